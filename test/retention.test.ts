// The service prunes settled events past EVENT_RETENTION by itself (src/ledger/retention.ts).
import { afterEach, describe, expect, it } from 'vitest';
import { Retention } from '../src/ledger/retention.js';
import { createMetrics } from '../src/metrics.js';
import { asHolder, CIVI, ogEvent, openTempStore } from './support/app.js';

let temp: Awaited<ReturnType<typeof openTempStore>>;
afterEach(async () => {
  await temp.dispose();
});

const DAY = 86_400_000;

describe('Retention', () => {
  it('prunes every settled event past the retention in small batches, counts them, and keeps the rest', async () => {
    temp = await openTempStore();
    const { store } = temp;
    const old = Date.now() - 31 * DAY;
    for (let i = 0; i < 25; i++) {
      const event = ogEvent({ type: 'og.group.updated', group: { id: 42, title: `Title ${i}` } }, old + i);
      await store.accept({ ...event, receivedAt: old + i });
    }
    const lease = await asHolder(store, 42);
    await store.groupSynced(lease, (await store.group(42))!.dirtySeq, CIVI, Date.now());
    await store.accept(ogEvent({ type: 'og.group.updated', group: { id: 42, title: 'Recent' } }, Date.now()));

    const metrics = createMetrics();
    const retention = new Retention({ store, retentionMs: 30 * DAY, metrics, batch: 10 });
    expect(await retention.runOnce()).toBe(25);
    expect(await retention.runOnce()).toBe(0);
    expect((await store.listEvents({ limit: 100 })).map((e) => e.type)).toEqual(['og.group.updated']);
    expect(await metrics.registry.metrics()).toMatch(/og_sync_events_pruned_total 25/);
    expect((await store.eventCounts()).accepted).toBe(26);
  });

  it('keeps everything with a retention of 0', async () => {
    temp = await openTempStore();
    const retention = new Retention({ store: temp.store, retentionMs: 0 });
    retention.start();
    await retention.stop();
    expect(await temp.store.listEvents({ limit: 1 })).toEqual([]);
  });
});
