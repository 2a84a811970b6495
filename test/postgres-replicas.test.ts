// Several replicas on one PostgreSQL database: two PostgresStore instances (two pools, as two
// processes would have) on the same schema, racing each other.
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { OgChange, OgMember, OgUser } from '../src/events/model.js';
import { openStore } from '../src/ledger/index.js';
import { migrations } from '../src/ledger/migrations.js';
import { PostgresAdapter, PostgresStore } from '../src/ledger/postgres.js';
import { CIVI, ogEvent } from './support/app.js';
import { createTestSchema, TEST_DATABASE_URL, type TestSchema } from './support/postgres.js';

const T0 = Date.parse('2026-11-24T10:00:00Z');
const LEASE = 30_000;
const ALL_VERSIONS = migrations.map((m) => m.version);

const user = (id: number): OgUser => ({ id, email: `u${id}@example.org` });
const member = (id: number): OgMember => ({ user: user(id), state: 'active', isAdmin: false });
const groupCreated = (id: number): OgChange => ({ type: 'og.group.created', group: { id, title: `Group ${id}` } });

let schema: TestSchema;
let a: PostgresStore;
let b: PostgresStore;
let opened: Array<() => Promise<void>> = [];

beforeEach(async () => {
  schema = await createTestSchema();
  a = new PostgresStore(schema.url);
  b = new PostgresStore(schema.url);
  opened = [() => a.close(), () => b.close(), () => schema.drop()];
});

afterEach(async () => {
  for (const dispose of opened) await dispose();
  opened = [];
});

describe('two replicas on one database', () => {
  it('two migrate() calls at once both succeed; the schema is made once', async () => {
    const applied = await Promise.all([a.migrate(), b.migrate()]);
    expect(applied.map((versions) => versions.length).sort()).toEqual([0, ALL_VERSIONS.length]);
    expect(applied.flat()).toEqual(ALL_VERSIONS);
    expect(await a.migrate()).toEqual([]);

    const db = new pg.Client({ connectionString: schema.url });
    await db.connect();
    try {
      const { rows } = await db.query('SELECT version FROM schema_migrations ORDER BY version');
      expect(rows.map((r) => r.version)).toEqual(ALL_VERSIONS);
    } finally {
      await db.end();
    }
  });

  it('concurrent accepts of the same event id: exactly one is accepted, the ledger holds it once', async () => {
    await a.migrate();
    const rounds = 25;
    const outcomes = await Promise.all(
      Array.from({ length: rounds }, async (_, i) => {
        // The same id from both replicas; the bodies may even differ, as in a redelivery.
        const change: OgChange = { type: 'og.membership.created', groupId: 42, member: member(100 + i) };
        const [x, y] = await Promise.all([a.accept(ogEvent(change, T0, `evt-${i}`)), b.accept(ogEvent(change, T0 + 1, `evt-${i}`))]);
        return [x, y].sort();
      }),
    );
    for (const pair of outcomes) expect(pair).toEqual(['accepted', 'duplicate']);
    expect((await a.eventCounts()).accepted).toBe(rounds);
    expect(await b.members(42)).toHaveLength(rounds);
    expect(new Set((await a.listEvents({ limit: 1000 })).map((e) => e.id)).size).toBe(rounds);
  });

  it('concurrent snapshots sharing users, from both replicas, all land without a deadlock', async () => {
    await a.migrate();
    // Overlapping users listed in opposite orders: the lock order must not depend on the list.
    const up = Array.from({ length: 30 }, (_, i) => member(i + 1));
    const down = [...up].reverse();
    const events = Array.from({ length: 20 }, (_, i) =>
      ogEvent({ type: 'og.group.snapshot', group: { id: 1 + (i % 4), title: `G${i}` }, members: i % 2 ? up : down }, T0 + i),
    );
    const outcomes = await Promise.all(events.map((event, i) => (i % 2 ? a : b).accept(event)));
    expect(outcomes.every((o) => o === 'accepted')).toBe(true);
    for (const ogId of [1, 2, 3, 4]) expect(await a.members(ogId)).toHaveLength(30);
    expect((await b.eventCounts()).accepted).toBe(20);
  });

  it('concurrent claimGroup from both never hands out the same group while it is leased', async () => {
    await a.migrate();
    const groups = 40;
    for (let id = 1; id <= groups; id++) await a.accept(ogEvent(groupCreated(id), T0));

    const now = Date.now();
    const claimAll = async (store: PostgresStore, owner: string) => {
      const claimed: number[] = [];
      for (;;) {
        const lease = await store.claimGroup(owner, now, LEASE);
        if (lease === undefined) return claimed;
        claimed.push(lease.ogId);
      }
    };
    // Several workers per replica, all claiming at the same moment.
    const claims = await Promise.all([
      claimAll(a, 'a1'),
      claimAll(a, 'a2'),
      claimAll(a, 'a3'),
      claimAll(b, 'b1'),
      claimAll(b, 'b2'),
      claimAll(b, 'b3'),
    ]);
    const all = claims.flat();
    expect(all).toHaveLength(new Set(all).size);
    // Every group was handed out once: SKIP LOCKED passes over, it never gives up early for good.
    expect(new Set(all).size).toBe(groups);
    // The leases run by the database's clock: a caller whose clock is ahead gets nothing either.
    expect(await a.claimGroup('late', now, LEASE)).toBeUndefined();
    expect(await b.claimGroup('late', now + 2 * LEASE, LEASE)).toBeUndefined();
  });

  it('accepts, marks, replays and syncs racing on both replicas: everything ends synced and done', async () => {
    await a.migrate();
    const groups = [1, 2, 3];
    const ids: string[] = [];
    const acceptSome = async (store: PostgresStore, from: number) => {
      for (let i = from; i < from + 30; i++) {
        const event = ogEvent({ type: 'og.membership.created', groupId: groups[i % 3]!, member: member(1 + (i % 7)) }, T0 + i);
        ids.push(event.id);
        expect(await store.accept(event)).toBe('accepted');
      }
    };
    const markSome = async (store: PostgresStore) => {
      for (let i = 0; i < 10; i++) {
        await store.markForReconcile(groups[i % 3]!);
        const lease = await store.leaseGroup(groups[(i + 1) % 3]!, 'marker', LEASE);
        if (lease) {
          await store.groupSynced(lease, (await store.group(lease.ogId))!.dirtySeq, CIVI, Date.now(), { madeAnew: true });
          await store.releaseGroup(lease);
        }
        if (ids.length > 0) await store.replay(ids[ids.length - 1]!);
      }
    };
    const syncOnce = async (store: PostgresStore, owner: string) => {
      const lease = await store.claimGroup(owner, Date.now(), LEASE);
      if (lease === undefined) return false;
      const work = (await store.loadWork(lease.ogId, Date.now(), 1000))!;
      await store.groupSynced(lease, work.group.dirtySeq, CIVI, Date.now());
      await store.membersSynced(
        lease,
        work.members.map((m) => ({ uid: m.uid, dirtySeq: m.dirtySeq, civiMemberStatus: 'Added' })),
      );
      await store.releaseGroup(lease);
      return true;
    };
    const syncWhile = async (store: PostgresStore, owner: string, busy: () => boolean) => {
      while (busy()) if (!(await syncOnce(store, owner))) await new Promise((r) => setTimeout(r, 1));
    };

    let running = 4;
    const done = <T>(p: Promise<T>) => p.finally(() => running--);
    await Promise.all([
      done(acceptSome(a, 0)),
      done(acceptSome(b, 100)),
      done(markSome(a)),
      done(markSome(b)),
      syncWhile(a, 'a', () => running > 0),
      syncWhile(b, 'b', () => running > 0),
    ]);
    while (await syncOnce(a, 'a'));

    expect(await b.workCounts()).toMatchObject({ groups: { dirty: 0, dead: 0 }, members: { dirty: 0, dead: 0 } });
    expect(await a.eventCounts()).toEqual({ accepted: 60, pending: 0, retrying: 0, dead: 0, done: 60 });
  });

  it('leaseGroup of one group from both replicas at once: one wins', async () => {
    await a.migrate();
    await a.accept(ogEvent(groupCreated(7), T0));
    for (let round = 0; round < 10; round++) {
      const won = (await Promise.all([a.leaseGroup(7, 'a', LEASE), b.leaseGroup(7, 'b', LEASE)])).filter((l) => l !== undefined);
      expect(won).toHaveLength(1);
      await a.releaseGroup(won[0]!);
    }
  });

  it("a replica's prepared statements go on answering after a newer replica's migration adds columns", async () => {
    await a.migrate();
    await a.accept(ogEvent({ type: 'og.group.snapshot', group: { id: 7, title: 'Group 7' }, members: [member(1), member(2)] }, T0));
    const before = { group: await a.group(7), members: await a.members(7), users: await a.users([1, 2]), work: await a.loadWork(7, T0, 10) };
    // What a later release's migration might do, while this replica runs with its statements prepared.
    const admin = new pg.Client({ connectionString: schema.url });
    await admin.connect();
    opened.unshift(() => admin.end());
    for (const table of ['og_groups', 'og_members', 'users']) await admin.query(`ALTER TABLE ${table} ADD COLUMN later_release TEXT`);
    expect({ group: await a.group(7), members: await a.members(7), users: await a.users([1, 2]), work: await a.loadWork(7, T0, 10) }).toEqual(before);
    // A column read changes its type: the statements prepared for the old one are given up.
    await admin.query('ALTER TABLE og_groups ALTER COLUMN title TYPE VARCHAR(1000)');
    expect(await a.group(7)).toEqual(before.group);
    await admin.query('ALTER TABLE og_members ALTER COLUMN state TYPE VARCHAR(100)');
    expect(await a.loadWork(7, T0, 10)).toEqual(before.work);
  });
});

describe('a database that cuts connections', () => {
  it('a transaction whose connection is cut runs again on another connection', async () => {
    const adapter = new PostgresAdapter(schema.url);
    opened.unshift(() => adapter.close());
    await adapter.migrate();
    const admin = new pg.Client({ connectionString: schema.url });
    await admin.connect();
    opened.unshift(() => admin.end());
    const backends: number[] = [];
    const written = await adapter.write(async (tx) => {
      const [{ pid }] = (await tx.all<{ pid: number }>('SELECT pg_backend_pid() AS pid')) as [{ pid: number }];
      backends.push(pid);
      tx.send('INSERT INTO store_probe (id, at) VALUES (?, ?)', [backends.length, pid]);
      // The first time, the connection is cut (waiting until its backend is gone) before the commit.
      if (backends.length === 1) await admin.query('SELECT pg_terminate_backend($1, 5000)', [pid]);
      return 'written';
    });
    expect(written).toBe('written');
    expect(backends).toHaveLength(2);
    expect(backends[1]).not.toBe(backends[0]);
    const kept = await admin.query('SELECT id::int AS id FROM store_probe');
    expect(kept.rows).toEqual([{ id: 2 }]);
  });

  it('connections cut while batches are in flight: each event lands whole or not at all, and a retry lands it', async () => {
    // The store's connections carry a name of their own, so that only they are cut.
    const name = `cut-${schema.schema}`;
    const url = new URL(schema.url);
    url.searchParams.set('application_name', name);
    const store = new PostgresStore(url.toString());
    opened.unshift(() => store.close());
    await store.migrate();
    const admin = new pg.Client({ connectionString: schema.url });
    await admin.connect();
    opened.unshift(() => admin.end());
    const cut = () => admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [name]);

    const events = Array.from({ length: 400 }, (_, i) => ogEvent({ type: 'og.membership.created', groupId: 1 + (i % 7), member: member(1_000 + i) }, T0, `cut-${i}`));
    let failed = 0;
    for (let wave = 0; wave < 8; wave++) {
      const batch = events.slice(wave * 50, (wave + 1) * 50);
      const delivered = Promise.allSettled(batch.map((event) => store.accept(event)));
      await new Promise((resolve) => setTimeout(resolve, wave));
      await cut();
      // What a sender does with a 503: deliver again until the answer is a 202.
      const outcomes = await delivered;
      for (const [i, outcome] of outcomes.entries()) {
        if (outcome.status === 'fulfilled') continue;
        failed++;
        for (let attempt = 0; ; attempt++) {
          const again = await store.accept(batch[i]!).catch(() => undefined);
          if (again) break;
          expect(attempt).toBeLessThan(20);
        }
      }
    }
    // Senders see a failure only when a new connection, too, was cut as it opened.
    expect(failed).toBeLessThan(events.length);

    // A pooled connection cut while idle fails the first read that gets it, as any caller may see.
    const read = async <T>(query: () => Promise<T>): Promise<T> => {
      for (let attempt = 0; ; attempt++) {
        try {
          return await query();
        } catch (error) {
          if (attempt >= 20) throw error;
        }
      }
    };
    expect((await read(() => store.listEvents({ limit: 1_000 }))).map((e) => e.id).sort()).toEqual(events.map((e) => e.id).sort());
    expect((await read(() => store.eventCounts())).accepted).toBe(events.length);
    const uids = (await read(() => Promise.all([1, 2, 3, 4, 5, 6, 7].map((id) => store.members(id))))).flat().map((m) => m.uid);
    expect(uids.sort((x, y) => x - y)).toEqual(events.map((_, i) => 1_000 + i));
    const { rows } = await admin.query('SELECT count(*)::int AS n, count(DISTINCT event_seq)::int AS events FROM event_targets');
    expect(rows[0]).toEqual({ n: events.length, events: events.length });
  });
});

describe('openStore with PostgreSQL', () => {
  it('opens a store on a reachable database', async () => {
    const store = await openStore({ kind: 'postgres', url: schema.url });
    try {
      expect(await store.migrate()).toEqual(ALL_VERSIONS);
      await expect(store.checkWritable()).resolves.toBeUndefined();
    } finally {
      await store.close();
    }
  });

  it('rejects an unreachable database with one line that names the server but not the credentials', async () => {
    const url = 'postgres://og_user:s3cret-pa55@127.0.0.1:1/og?sslpassword=other-s3cret';
    const error = await openStore({ kind: 'postgres', url }).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(error).toBeInstanceOf(Error);
    expect(error!.message).toMatch(/^PostgreSQL at postgres:\/\/127\.0\.0\.1:1\/og did not answer: /);
    expect(error!.message).not.toContain('\n');
    expect(error!.message).not.toMatch(/s3cret|og_user/);
  });

  it('rejects a wrong password without echoing it', async () => {
    const url = new URL(TEST_DATABASE_URL);
    url.username = 'no_such_role_og_sync';
    url.password = 'wrong-s3cret';
    const error = await openStore({ kind: 'postgres', url: url.toString() }).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(error?.message).toMatch(/^PostgreSQL at postgres:\/\/.* did not answer: .*no_such_role_og_sync/);
    expect(error?.message).not.toContain('wrong-s3cret');
  });
});
