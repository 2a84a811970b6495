// "202 means stored": the real service in a child process takes signed events over real
// sockets and is SIGKILLed without warning; every acknowledged event must be in the file.
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteStore } from '../src/ledger/sqlite.js';
import { nativeBody, signedNative, tempDir, testEnv, userOf } from './support/app.js';
import { mapConcurrently, startService, type Service } from './support/process.js';

const GROUPS = 10;

/** Event i: the first GROUPS create the groups, the rest are one membership each (uid 1000 + i). */
function eventBody(i: number, runId: string) {
  const timestamp = new Date().toISOString();
  if (i < GROUPS) return nativeBody('og.group.created', { group: { id: i + 1, title: `Group ${i + 1} (${runId})` } }, timestamp);
  return nativeBody(
    'og.membership.created',
    { group_id: (i % GROUPS) + 1, user: { id: 1000 + i, email: `user${i}@example.org` }, state: i % 3 === 0 ? 'pending' : 'active', is_admin: i % 7 === 0 },
    timestamp,
  );
}

let dir: ReturnType<typeof tempDir>;
let dbPath: string;
let service: Service | undefined;

beforeEach(async () => {
  dir = tempDir();
  dbPath = join(dir.path, 'store.sqlite');
  service = await startService(testEnv({ DATABASE_URL: `sqlite:${dbPath}`, LOG_LEVEL: 'warn' }));
});

afterEach(async () => {
  service?.child.signal('SIGKILL');
  await service?.child.exited;
  dir.remove();
});

async function postSigned(i: number, runId: string): Promise<{ id: string; status: number; body: unknown }> {
  const { id, payload, headers } = signedNative(eventBody(i, runId), { id: `${runId}-${i}` });
  const response = await fetch(`${service!.url}/webhooks/og`, { method: 'POST', headers, body: payload });
  return { id, status: response.status, body: await response.json() };
}

/** Opens the file the killed process left, as the next start would. */
async function reopen() {
  const store = new SqliteStore(dbPath);
  // The schema is there already: nothing to apply.
  expect(await store.migrate()).toEqual([]);
  return store;
}

function rawEventIds(): string[] {
  const db = new Database(dbPath, { readonly: true });
  try {
    return db.prepare('SELECT id FROM events').pluck().all() as string[];
  } finally {
    db.close();
  }
}

describe('durability across SIGKILL', () => {
  it('keeps every one of N concurrently acknowledged events, exactly once, with its ledger effect', async () => {
    const N = 200;
    const runId = `run${Date.now()}`;
    const answers = await mapConcurrently(
      Array.from({ length: N }, (_, i) => i),
      20,
      (i) => postSigned(i, runId),
    );
    // Killed the moment the last 202 arrived: no shutdown, no checkpoint, no flush.
    service!.child.signal('SIGKILL');
    const exit = await service!.child.exited;
    expect(exit.signal).toBe('SIGKILL');

    for (const answer of answers) {
      expect(answer.status).toBe(202);
      expect(answer.body).toEqual({ id: answer.id, status: 'accepted' });
    }

    const ids = rawEventIds();
    expect(ids).toHaveLength(N);
    expect(new Set(ids)).toEqual(new Set(answers.map((a) => a.id)));

    const store = await reopen();
    try {
      const listed = await store.listEvents({ limit: 100_000 });
      expect(listed).toHaveLength(N);
      expect(new Set(listed.map((e) => e.id)).size).toBe(N);
      expect((await store.eventCounts()).accepted).toBe(N);

      for (let g = 1; g <= GROUPS; g++) {
        // Titled, whichever came first: the group event or a membership's placeholder.
        expect(await store.group(g)).toMatchObject({ ogId: g, title: `Group ${g} (${runId})`, deleted: false, syncState: 'dirty' });
      }
      let memberships = 0;
      for (let i = GROUPS; i < N; i++) {
        const members = await store.members((i % GROUPS) + 1);
        const m = members.find((x) => x.uid === 1000 + i);
        expect(m, `membership of event ${i}`).toMatchObject({ state: i % 3 === 0 ? 'pending' : 'active', isAdmin: i % 7 === 0 });
        expect(await userOf(store, 1000 + i)).toEqual({ id: 1000 + i, email: `user${i}@example.org` });
        memberships++;
      }
      expect(memberships).toBe(N - GROUPS);
      const work = await store.workCounts();
      expect(work.groups.total).toBe(GROUPS);
      expect(work.members.total).toBe(N - GROUPS);
    } finally {
      await store.close();
    }
  });

  it('keeps every acknowledged event when killed in the middle of a burst', async () => {
    const N = 300;
    const KILL_AFTER = 120;
    const runId = `mid${Date.now()}`;
    const acknowledged: string[] = [];
    const sent: string[] = [];
    await mapConcurrently(
      Array.from({ length: N }, (_, i) => i),
      20,
      async (i) => {
        if (!service!.child.running) return;
        sent.push(`${runId}-${i}`);
        try {
          const answer = await postSigned(i, runId);
          if (answer.status === 202) acknowledged.push(answer.id);
          if (acknowledged.length === KILL_AFTER) service!.child.signal('SIGKILL');
        } catch {
          // The connection died with the process: this event was never acknowledged.
        }
      },
    );
    await service!.child.exited;
    expect(acknowledged.length).toBeGreaterThanOrEqual(KILL_AFTER);

    const stored = rawEventIds();
    // Every 202 is in the file; nothing is in it that was not sent; nothing twice.
    expect(stored).toEqual(expect.arrayContaining(acknowledged));
    expect(new Set(stored).size).toBe(stored.length);
    for (const id of stored) expect(sent).toContain(id);

    const store = await reopen();
    try {
      for (const id of acknowledged) {
        const i = Number(id.slice(runId.length + 1));
        if (i < GROUPS) expect((await store.group(i + 1))?.title).toBe(`Group ${i + 1} (${runId})`);
        else expect((await store.members((i % GROUPS) + 1)).some((m) => m.uid === 1000 + i)).toBe(true);
      }
    } finally {
      await store.close();
    }
  });
});
