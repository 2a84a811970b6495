// Retry times written by one replica mean the same to every replica, whatever their clocks say:
// each dates and reads them on the store's clock, as it follows it.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StoreClock } from '../src/sync/store-clock.js';
import { DEFAULT_BACKOFF, failureFor } from '../src/sync/worker.js';
import { CIVI, ogEvent } from './support/app.js';
import { TEMP_STORES, type TempStore } from './support/stores.js';

describe('StoreClock', () => {
  it("reads the store's time on a host whose clock is off, and learns it again only after a while", async () => {
    let asked = 0;
    const store = { clock: async () => (asked++, Date.now()) };
    const ahead = new StoreClock(store, () => Date.now() + 60_000);
    await ahead.follow();
    expect(Math.abs(ahead.now() - Date.now())).toBeLessThan(1_000);
    await ahead.follow();
    expect(asked).toBe(1);
  });
});

describe.each(TEMP_STORES)('retries on replicas whose clocks differ by two minutes (%s)', (_name, open) => {
  let temp: TempStore;
  beforeEach(async () => {
    temp = await open();
  });
  afterEach(async () => {
    await temp.dispose();
  });

  it('a backoff set by the replica behind is kept by the one ahead', async () => {
    const { store } = temp;
    const behind = new StoreClock(store, () => Date.now() - 60_000);
    const ahead = new StoreClock(store, () => Date.now() + 60_000);
    await Promise.all([behind.follow(), ahead.follow()]);
    await store.accept(ogEvent({ type: 'og.membership.created', groupId: 42, member: { user: { id: 7, email: 'ann@example.org' }, state: 'active', isAdmin: false } }, Date.now()));

    const claimed = await store.claimWork('behind', behind.now(), 30_000, 100);
    if (!claimed || !('lease' in claimed)) throw new Error('nothing claimed');
    const { lease, work } = claimed;
    await store.groupSynced(lease, work.group.dirtySeq, CIVI, behind.now());
    // A transient error: backed off by half a second to a second.
    const failure = failureFor(new Error('deadlock'), 0, DEFAULT_BACKOFF, behind.now(), () => 0.5);
    await store.finishMembers(lease, [], [{ uid: 7, failure }], 0);

    const onStoreTime = await store.claimWork('ahead', ahead.now(), 30_000, 100);
    expect(onStoreTime !== undefined && 'lease' in onStoreTime).toBe(false);
    // By its own clock, the replica ahead would have found the retry due at once.
    expect(await store.claimWork('ahead', Date.now() + 60_000, 30_000, 100)).toHaveProperty('lease');
  });
});
