// Workers that cannot step on each other: leases run by the store's clock, whatever each host's
// clock says, and a worker whose lease was taken stops before its next CiviCRM call. Runs on
// both stores, with the CiviCRM emulator behind a real CiviClient.
import { afterEach, describe, expect, it } from 'vitest';
import { CiviClient } from '../src/civicrm/client.js';
import type { HeldLease, CiviApi } from '../src/sync/lease.js';
import { Reconciler, type ReconcilerOptions } from '../src/sync/reconciler.js';
import { Worker } from '../src/sync/worker.js';
import { startEmulator, type CiviEmulator } from './civicrm-emulator/index.js';
import { ogEvent } from './support/app.js';
import { ogGroups, statusesOf } from './support/civicrm-view.js';
import { TEMP_STORES, type TempStore } from './support/stores.js';
import { waitFor } from './support/wait.js';

/** Who is inside which group's plan right now, across every worker of a test. */
class Watch {
  readonly inside = new Map<number, Set<string>>();
  overlaps: string[] = [];
  /** CiviCRM requests sent, by worker, with when. */
  readonly sent: Array<{ worker: string; at: number }> = [];

  enter(ogId: number, worker: string): void {
    const there = this.inside.get(ogId) ?? new Set<string>();
    if (there.size > 0) this.overlaps.push(`${worker} entered OG group ${ogId} while ${[...there].join(', ')} was inside`);
    there.add(worker);
    this.inside.set(ogId, there);
  }

  exit(ogId: number, worker: string): void {
    this.inside.get(ogId)?.delete(worker);
  }
}

/** A reconciler that tells the watch when its worker enters and leaves a group's plan. */
class WatchedReconciler extends Reconciler {
  constructor(
    options: ReconcilerOptions,
    private readonly watch: Watch,
    private readonly worker: string,
  ) {
    super(options);
  }

  override fenced(held: HeldLease): Reconciler {
    const inner = super.fenced(held);
    const { watch, worker } = this;
    return new Proxy(inner, {
      get(target, key, receiver) {
        const value = Reflect.get(target, key, receiver) as unknown;
        if (key !== 'syncGroup' && key !== 'syncMembers') return typeof value === 'function' ? value.bind(target) : value;
        return async (group: { ogId: number }, ...rest: unknown[]) => {
          watch.enter(group.ogId, worker);
          try {
            return await (value as (...a: unknown[]) => Promise<unknown>).call(target, group, ...rest);
          } finally {
            watch.exit(group.ogId, worker);
          }
        };
      },
    });
  }
}

/** The client every request of one worker goes through, noting when it is sent. */
function noting(civi: CiviClient, watch: Watch, worker: string): CiviApi {
  const note = () => watch.sent.push({ worker, at: Date.now() });
  return {
    call: (entity, action, params) => (note(), civi.call(entity, action, params)),
    batch: (calls) => (note(), civi.batch(calls)),
    getAll: (entity, params, pageSize) => (note(), civi.getAll(entity, params, pageSize)),
    version: () => civi.version(),
  };
}

/**
 * Takes a group's lease from under its holder, as another claim after the holder stalled would:
 * the token moves on and the lease is free for the next claim.
 */
const takeLease = (temp: TempStore, ogId: number) =>
  temp.exec('UPDATE og_groups SET lease_until = 0, lease_token = lease_token + 1 WHERE og_id = ?', [ogId]);

describe.each(TEMP_STORES)('fenced leases (%s)', (_name, open) => {
  let emulator: CiviEmulator;
  let temp: TempStore;
  const workers: Worker[] = [];
  const clients: CiviClient[] = [];
  const watch = () => new Watch();

  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.stop()));
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await temp.dispose();
    await emulator.close();
  });

  async function start() {
    emulator = await startEmulator();
    temp = await open();
  }

  function worker(name: string, w: Watch, options: { now?: () => number; leaseMs?: number; concurrency?: number }) {
    const civi = new CiviClient({ url: emulator.restUrl, apiKey: emulator.apiKey, siteKey: emulator.siteKey, auth: 'legacy' });
    clients.push(civi);
    const reconciler = new WatchedReconciler(
      {
        civi: noting(civi, w, name),
        onGroupDelete: 'disable',
        createMissingContacts: true,
        onContacts: (links) => temp.store.saveContacts(links),
      },
      w,
      name,
    );
    const made = new Worker({
      store: temp.store,
      reconciler,
      concurrency: options.concurrency ?? 2,
      leaseMs: options.leaseMs ?? 1_500,
      pollMs: 10,
      now: options.now,
      backoff: { baseMs: 20, maxMs: 200, maxAttempts: 5 },
    });
    workers.push(made);
    return made;
  }

  async function settled(): Promise<void> {
    await waitFor(async () => {
      const work = await temp.store.workCounts();
      return work.groups.dirty === 0 && work.members.dirty === 0;
    }, 'the sync to settle');
  }

  it('two workers whose clocks are 60 s ahead and 60 s behind never share a group, and make everything once', async () => {
    await start();
    emulator.faults.latency(5);
    const w = watch();
    const groups = Array.from({ length: 8 }, (_, i) => 100 + i);
    for (const ogId of groups) {
      await temp.store.accept(ogEvent({ type: 'og.group.created', group: { id: ogId, title: `Group ${ogId}`, owner: { id: 1, email: 'owner@example.org' } } }, Date.now()));
      for (let uid = 2; uid <= 6; uid++) {
        const member = { user: { id: uid, email: `u${uid}@example.org` }, state: 'active' as const, isAdmin: uid === 2 };
        await temp.store.accept(ogEvent({ type: 'og.membership.created', groupId: ogId, member }, Date.now()));
      }
    }
    worker('ahead', w, { now: () => Date.now() + 60_000 }).start();
    worker('behind', w, { now: () => Date.now() - 60_000 }).start();
    await settled();

    expect(w.overlaps).toEqual([]);
    // Groups synced side by side may both make a contact for one user (resolved by its UFMatch,
    // see src/sync/contacts.ts); nothing of a group is ever made twice.
    expect(emulator.calls.filter((c) => c.isError && c.entity !== 'Contact')).toEqual([]);
    for (const ogId of groups) {
      const made = ogGroups(emulator, ogId);
      expect(emulator.db.groupsBySource(`OG Sync Group :${ogId}:`)).toHaveLength(1);
      expect(emulator.db.groupsBySource(`OG Sync Group ACL :${ogId}:`)).toHaveLength(1);
      expect(made.entityRoles).toHaveLength(1);
      expect(made.acls).toHaveLength(1);
      for (let uid = 2; uid <= 6; uid++) expect(statusesOf(emulator, ogId, uid).member).toBe('Added');
    }
    expect((await temp.store.workCounts()).members.dead).toBe(0);
  });

  it('a worker whose lease is taken mid-round sends nothing more, and what it did is not recorded over the new holder', async () => {
    await start();
    // Slow enough that the first round is still in flight when the lease goes.
    emulator.faults.latency(1_500);
    const w = watch();
    await temp.store.accept(ogEvent({ type: 'og.group.created', group: { id: 42, title: 'Chess Club' } }, Date.now()));
    const first = worker('first', w, { leaseMs: 600, concurrency: 1 });
    first.start();
    await waitFor(() => w.sent.some((s) => s.worker === 'first'), 'the first worker to call CiviCRM');

    // The lease runs out under it (as when its host stalls), and a second worker takes the group.
    const stolenAt = Date.now();
    const second = worker('second', w, { leaseMs: 60_000, concurrency: 1 });
    await takeLease(temp, 42);
    second.start();
    await waitFor(() => w.sent.some((s) => s.worker === 'second'), 'the second worker to call CiviCRM');
    emulator.faults.latency(0);
    await settled();

    expect(w.sent.filter((s) => s.worker === 'first' && s.at > stolenAt)).toEqual([]);
    expect(emulator.db.groupsBySource('OG Sync Group :42:')).toHaveLength(1);
    expect(emulator.db.groupsBySource('OG Sync Group ACL :42:')).toHaveLength(1);
    expect(ogGroups(emulator, 42).acls).toHaveLength(1);
    expect(emulator.calls.filter((c) => c.isError)).toEqual([]);
    expect(await temp.store.group(42)).toMatchObject({ syncState: 'clean' });
  });
});
