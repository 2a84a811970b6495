// How the worker's lanes wake, against a store that answers claims as scripted and a CiviCRM that
// never answers until the test lets it: which lane asks the store, and when.
import { afterEach, expect, it } from 'vitest';
import type { Claimed, GroupRecord, SyncStore } from '../src/ledger/store.js';
import type { Reconciler } from '../src/sync/reconciler.js';
import { Worker } from '../src/sync/worker.js';
import { pollUntil } from './support/wait.js';

let worker: Worker | undefined;
let letCiviCrmAnswer = () => {};
afterEach(async () => {
  letCiviCrmAnswer();
  await worker?.stop();
  worker = undefined;
});

const group = (ogId: number): GroupRecord => ({ ogId, title: `G${ogId}`, deleted: false, changedAt: 0, syncState: 'dirty', dirtySeq: 1, attempts: 0 });
const workOn = (ogId: number, nextDueMs?: number): Claimed => ({
  lease: { ogId, owner: 'w', token: 1 },
  work: { group: group(ogId), members: [], users: new Map() },
  nextDueMs,
});

/** A worker whose store answers claims in turn from `answers`, then finds nothing. */
function startWorker(answers: Claimed[]) {
  const claims: Claimed[] = [];
  const civicrm = new Promise<never>((_, reject) => (letCiviCrmAnswer = () => reject(new Error('the test is over'))));
  civicrm.catch(() => undefined);
  const store = {
    claimWork: async () => {
      const answer = answers.shift();
      claims.push(answer);
      return answer;
    },
    clock: async () => Date.now(),
    renewLease: async () => true,
    releaseGroup: async () => undefined,
    groupFailed: async () => undefined,
  } as unknown as SyncStore;
  const reconciler = { fenced: () => ({ syncGroup: () => civicrm }) } as unknown as Reconciler;
  // Polls far beyond the test's patience: only wakes move a lane.
  worker = new Worker({ store, reconciler, concurrency: 2, pollMs: 600_000 });
  worker.start();
  return claims;
}

/** Both lanes find nothing and sleep; then an accepted event wakes one. */
async function wakeAfterIdle(claims: Claimed[]): Promise<void> {
  await pollUntil(() => claims.length >= 2, { what: 'both lanes to look once' });
  worker!.wake();
}

it('wakes another lane when the rest of the next group ends, while the first lane still syncs', async () => {
  // The woken lane takes group 1 and learns that group 2 rests 50 ms more.
  const claims = startWorker([undefined, undefined, workOn(1, 50), workOn(2)]);
  await wakeAfterIdle(claims);
  await pollUntil(() => claims.length >= 4, { what: 'the other lane to claim group 2' });
  expect(claims[3]).toMatchObject({ lease: { ogId: 2 } });
});

it('wakes another lane at once when the next group is due now', async () => {
  const claims = startWorker([undefined, undefined, workOn(1, 0), workOn(2)]);
  await wakeAfterIdle(claims);
  await pollUntil(() => claims.length >= 4, { what: 'the other lane to claim group 2' });
  expect(claims[3]).toMatchObject({ lease: { ogId: 2 } });
});

it('lets no lane look again when no other group has work', async () => {
  const claims = startWorker([undefined, undefined, workOn(1)]);
  await wakeAfterIdle(claims);
  await pollUntil(() => claims.length >= 3, { what: 'a lane to claim group 1' });
  // A look that would come at once has come within the wake's own delay; none does.
  await new Promise((resolve) => setTimeout(resolve, 100));
  expect(claims).toHaveLength(3);
});

it("asks for work as of the store's clock, not this host's", async () => {
  const asked: number[] = [];
  const store = {
    clock: async () => Date.now() + 3_600_000,
    claimWork: async (_owner: string, now: number) => (asked.push(now), undefined),
  } as unknown as SyncStore;
  worker = new Worker({ store, reconciler: {} as Reconciler, concurrency: 1, pollMs: 600_000 });
  worker.start();
  await pollUntil(() => asked.length >= 1, { what: 'a lane to look for work' });
  expect(asked[0]! - Date.now()).toBeGreaterThan(3_500_000);
});
