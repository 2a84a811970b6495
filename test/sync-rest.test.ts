// A group rests briefly after a sync: the changes that come meanwhile reach CiviCRM together, in
// one request, as soon as the rest ends, without waiting for a poll.
import { afterEach, expect, it } from 'vitest';
import { statusesOf } from './support/civicrm-view.js';
import { startRig, type Rig } from './support/sync.js';

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

const at = (minute: number) => new Date(Date.UTC(2026, 10, 24, 10, minute)).toISOString();
const membership = (uid: number, state: string) => ({
  group_id: 42,
  user: { id: uid, email: `user${uid}@example.org` },
  state,
  is_admin: false,
});

it('sends the changes that come while a group rests in one CiviCRM request when the rest ends', async () => {
  // A poll far beyond the test's patience: only the end of the rest can wake the worker.
  rig = await startRig({ worker: { restMs: 1_500, pollMs: 600_000 }, startWorker: false });
  await rig.send('og.group.created', { group: { id: 42, title: 'Chess Club' } }, at(0));
  for (const uid of [1, 2, 3, 4, 5]) await rig.send('og.membership.created', membership(uid, 'active'), at(1));
  rig.sync.worker.start();
  await rig.settle();

  rig.emulator.resetLog();
  for (const uid of [1, 2, 3, 4, 5]) expect((await rig.send('og.membership.updated', membership(uid, 'blocked'), at(2))).status).toBe(202);
  await rig.settle();

  for (const uid of [1, 2, 3, 4, 5]) expect(statusesOf(rig.emulator, 42, uid)).toEqual({ member: 'Removed', acl: undefined });
  expect(rig.emulator.requests).toBe(1);
});

it('goes on at once with a group that has more due than one batch, and lets an audit in while it rests', async () => {
  rig = await startRig({ worker: { restMs: 600_000, pollMs: 600_000, memberBatch: 2 }, startWorker: false });
  await rig.send('og.group.created', { group: { id: 42, title: 'Chess Club' } }, at(0));
  for (const uid of [1, 2, 3, 4, 5]) await rig.send('og.membership.created', membership(uid, 'active'), at(1));
  rig.sync.worker.start();
  await rig.settle();
  for (const uid of [1, 2, 3, 4, 5]) expect(statusesOf(rig.emulator, 42, uid)).toEqual({ member: 'Added', acl: undefined });
  // The rest is the worker's alone: an operator's reconcile does not wait for it.
  expect((await rig.admin('POST', '/admin/groups/42/reconcile?dryRun=true')).status).toBe(200);
});

it('wakes one lane when a rest ends, however many lanes asked while the group rested', async () => {
  rig = await startRig({ env: { SYNC_CONCURRENCY: '4' }, worker: { restMs: 3_000, pollMs: 600_000 }, startWorker: false });
  await rig.send('og.group.created', { group: { id: 42, title: 'Chess Club' } }, at(0));
  const updates = 6;
  const uids = Array.from({ length: updates }, (_, i) => i + 1);
  for (const uid of uids) await rig.send('og.membership.created', membership(uid, 'active'), at(1));
  rig.sync.worker.start();
  await rig.settle();

  const store = rig.store;
  const claimWork = store.claimWork.bind(store);
  let claims = 0;
  store.claimWork = (...args) => {
    claims++;
    return claimWork(...args);
  };
  rig.emulator.resetLog();
  // Each update, apart from the others, wakes a lane, which finds the group resting: in turn
  // every lane has asked before the rest ends.
  for (const uid of uids) {
    expect((await rig.send('og.membership.updated', membership(uid, 'blocked'), at(2))).status).toBe(202);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await rig.settle();

  for (const uid of uids) expect(statusesOf(rig.emulator, 42, uid)).toEqual({ member: 'Removed', acl: undefined });
  expect(rig.emulator.requests).toBe(1);
  // One look per wake, one when the rest ends, one finding nothing left, and perhaps the last look
  // of the first sync; were every lane to look when the rest ends, three more.
  expect(claims).toBeLessThanOrEqual(updates + 3);
});
