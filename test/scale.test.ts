// The call-count targets of issue 4, measured against the emulator's request log: a
// 10,000-member snapshot into an empty CiviCRM finishes in at most 600 HTTP requests, and
// a second identical snapshot costs at most 5 requests per 1,000 members. Counts only,
// never time: the generous timeout is there so a slow machine does not fail the test.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contactOf, ogGroups } from './support/civicrm-view.js';
import { startRig, type Rig } from './support/sync.js';
import { waitFor } from './support/wait.js';

const MEMBERS = 10_000;
const OG_ID = 7001;
const TIMEOUT_MS = 5 * 60_000;

let rig: Rig;
beforeAll(async () => {
  rig = await startRig({ env: { SYNC_CONCURRENCY: '4' } });
});
afterAll(async () => {
  await rig?.close();
});

const at = (minute: number) => new Date(Date.UTC(2026, 10, 24, 10, minute)).toISOString();

/** Kept lean (no names) so the body stays under the 1 MiB limit of the webhook route. */
function snapshot() {
  return {
    group: { id: OG_ID, title: 'Everyone' },
    members: Array.from({ length: MEMBERS }, (_, i) => ({
      user: { id: i + 1, email: `m${i + 1}@scale.example.org` },
      state: 'active',
      is_admin: false,
    })),
  };
}

/** Waits (with a deadline, never a fixed sleep) until no work is dirty. */
async function settled(): Promise<void> {
  await waitFor(
    async () => {
      const work = await rig.store.workCounts();
      return work.groups.dirty === 0 && work.members.dirty === 0;
    },
    'the 10,000-member snapshot to be synced',
    { timeoutMs: TIMEOUT_MS - 30_000, intervalMs: 100 },
  );
}

describe('a 10,000-member group', () => {
  it(
    'costs at most 600 CiviCRM requests into an empty CiviCRM, and at most 50 the second time',
    async () => {
      const data = snapshot();
      expect(Buffer.byteLength(JSON.stringify(data))).toBeLessThan(1024 * 1024);
      expect(rig.emulator.db.contacts.size).toBe(1); // only the API user: every member is new

      rig.emulator.resetLog();
      expect((await rig.send('og.group.snapshot', data, at(0))).status).toBe(202);
      await settled();
      const first = rig.emulator.requests;
      const firstCalls = rig.emulator.calls.length;
      console.log(`10,000-member snapshot into an empty CiviCRM: ${first} HTTP requests (${firstCalls} API calls)`);

      const work = await rig.store.workCounts();
      expect(work.members).toMatchObject({ total: MEMBERS, dirty: 0, dead: 0 });
      const { member } = ogGroups(rig.emulator, OG_ID);
      expect(member).toBeDefined();
      expect(rig.emulator.db.members(member!.id, 'Added')).toHaveLength(MEMBERS);
      for (const uid of [1, 2, 5_000, 9_999, MEMBERS]) {
        const contactId = contactOf(rig.emulator, uid);
        expect(contactId, `contact of user ${uid}`).toBeDefined();
        expect(rig.emulator.db.primaryEmail(contactId!)?.email).toBe(`m${uid}@scale.example.org`);
        expect(rig.emulator.db.groupContactStatus(member!.id, contactId!)).toBe('Added');
      }
      // One contact per member, no duplicates.
      expect(rig.emulator.db.contacts.size).toBe(MEMBERS + 1);
      expect(first).toBeLessThanOrEqual(600);

      rig.emulator.resetLog();
      expect((await rig.send('og.group.snapshot', data, at(1))).status).toBe(202);
      await settled();
      const second = rig.emulator.requests;
      console.log(
        `identical 10,000-member snapshot again: ${second} HTTP requests (${rig.emulator.calls.length} API calls: ` +
          `${[...new Set(rig.emulator.calls.map((c) => `${c.entity}.${c.action}`))].join(', ')})`,
      );
      expect(rig.emulator.db.members(member!.id, 'Added')).toHaveLength(MEMBERS);
      expect(rig.emulator.db.contacts.size).toBe(MEMBERS + 1);
      expect(second).toBeLessThanOrEqual((5 * MEMBERS) / 1_000);
    },
    TIMEOUT_MS,
  );
});
