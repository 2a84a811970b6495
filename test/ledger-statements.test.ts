// The ledger's writes take a bounded number of statements, whatever the number of members: a
// 2,000-member snapshot costs what a 10-member one does, on both stores.
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import type { OgEvent, OgMember } from '../src/events/model.js';
import { Ledger } from '../src/ledger/ledger.js';
import { PostgresAdapter } from '../src/ledger/postgres.js';
import type { Adapter, Db, Transaction } from '../src/ledger/sql.js';
import { SqliteAdapter } from '../src/ledger/sqlite.js';
import { asHolder, CIVI, ogEvent, tempDir } from './support/app.js';
import { createTestSchema } from './support/postgres.js';

/**
 * An adapter that counts the statements run through it, and keeps them; `waits` counts those whose
 * answer was awaited, where a statement sent goes on without waiting.
 */
function counting(inner: Adapter): { adapter: Adapter; count: () => number; waits: () => number; seen: Array<{ sql: string; params: readonly unknown[] }> } {
  const seen: Array<{ sql: string; params: readonly unknown[] }> = [];
  let statements = 0;
  let waits = 0;
  const note = (sql: string, params: readonly unknown[] = []) => {
    statements++;
    seen.push({ sql, params });
  };
  const wrapDb = (db: Db): Db => ({
    all: (sql, params) => (note(sql, params), waits++, db.all(sql, params)),
    run: (sql, params) => (note(sql, params), waits++, db.run(sql, params)),
  });
  const wrap = (tx: Transaction): Transaction => ({ ...wrapDb(tx), send: (sql, params) => (note(sql, params), tx.send(sql, params)) });
  const adapter: Adapter = {
    dialect: inner.dialect,
    db: wrapDb(inner.db),
    write: (work, options) => inner.write((db) => work(wrap(db)), options),
    claimsNeedDisk: inner.claimsNeedDisk,
    retryable: (error) => inner.retryable(error),
    isOutage: (error) => inner.isOutage(error),
    read: (work) => inner.read((db) => work(wrapDb(db))),
    lockGroupWriters: (db, ogId) => inner.lockGroupWriters(db, ogId),
    nextSeq: (db) => inner.nextSeq(db),
    migrate: () => inner.migrate(),
    close: () => inner.close(),
  };
  return { adapter, count: () => statements, waits: () => waits, seen };
}

const members = (n: number, from = 1): OgMember[] =>
  Array.from({ length: n }, (_, i) => ({ user: { id: from + i, email: `m${from + i}@example.org` }, state: 'active', isAdmin: false }));

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

const ADAPTERS: Array<[string, () => Promise<Adapter>]> = [
  [
    'SQLite',
    async () => {
      const dir = tempDir();
      cleanups.push(async () => dir.remove());
      return new SqliteAdapter(`${dir.path}/store.sqlite`);
    },
  ],
  [
    'PostgreSQL',
    async () => {
      const schema = await createTestSchema();
      cleanups.push(() => schema.drop());
      return new PostgresAdapter(schema.url);
    },
  ],
];

describe.each(ADAPTERS)('statements per write (%s)', (_name, make) => {
  /** Statements a snapshot of `n` members costs to accept, then to record as synced and to link. */
  async function costs(n: number) {
    const { adapter, count } = counting(await make());
    const ledger = new Ledger(adapter);
    cleanups.unshift(() => ledger.close());
    await ledger.migrate();
    const before = count();
    await ledger.accept(ogEvent({ type: 'og.group.snapshot', group: { id: 42, title: 'Big' }, members: members(n) }, Date.now()));
    const accept = count() - before;

    const work = (await ledger.loadWork(42, Date.now(), 100_000))!;
    const lease = await asHolder(ledger, 42);
    await ledger.groupSynced(lease, work.group.dirtySeq, CIVI, Date.now());
    const afterGroup = count();
    await ledger.membersSynced(lease, work.members.map((m) => ({ uid: m.uid, dirtySeq: m.dirtySeq, civiMemberStatus: 'Added' })));
    const synced = count() - afterGroup;
    const beforeContacts = count();
    await ledger.saveContacts(work.members.map((m) => ({ uid: m.uid, contactId: 1000 + m.uid, linked: true })));
    const contacts = count() - beforeContacts;
    expect((await ledger.members(42)).every((m) => m.syncState === 'clean')).toBe(true);
    return { accept, synced, contacts };
  }

  it('accepting a snapshot, recording member results and saving contacts cost the same for 10 and 2,000 members', async () => {
    const small = await costs(10);
    const large = await costs(2_000);
    expect(large).toEqual(small);
    expect(small.accept).toBeLessThanOrEqual(12);
  });

  it('listing, paging and pruning with other values run the same statements: each text is prepared once', async () => {
    const { adapter, seen } = counting(await make());
    const ledger = new Ledger(adapter);
    cleanups.unshift(() => ledger.close());
    await ledger.migrate();
    const ids = ['e1', 'e2', 'e3', 'e4', 'e5'];
    for (const [i, id] of ids.entries()) await ledger.accept(ogEvent({ type: 'og.group.created', group: { id: i + 1, title: `G${i + 1}` } }, Date.now(), id));
    const browse = async (n: number) => {
      for (const status of [undefined, 'pending', 'dead', 'done'] as const) {
        await ledger.listEvents({ status, limit: n });
        await ledger.listEvents({ status, limit: n, before: ids[n]! });
      }
      await ledger.pruneEvents(Date.now() - n * 60_000, n);
    };
    await browse(2);
    const texts = new Set(seen.map((s) => s.sql));
    await browse(3);
    expect(new Set(seen.map((s) => s.sql))).toEqual(texts);
  });
});

/** How SQLite's plan names a lookup of each ledger table (or its alias) by its key. */
const byKey = (name: string, key: string) => new RegExp(`^SEARCH ${name} (EXISTS )?USING .*\\(${key}`);
const BY_KEY: Record<string, RegExp> = {
  og_members: byKey('og_members', 'og_id=\\? AND uid=\\?\\)'),
  m: byKey('m', 'og_id=\\? AND uid=\\?\\)'),
  og_groups: byKey('og_groups', 'og_id=\\?\\)'),
  users: byKey('users', 'uid=\\?\\)'),
  u: byKey('u', 'uid=\\?\\)'),
  events: byKey('events', '(id|rowid)=\\?\\)'),
  event_targets: byKey('event_targets', 'event_seq=\\?'),
};

describe('SQLite query plans', () => {
  /** A ledger on a SQLite file that keeps the statements it ran, and the plan SQLite makes of one. */
  async function plannedLedger() {
    const dir = tempDir();
    cleanups.push(async () => dir.remove());
    const path = `${dir.path}/plans.sqlite`;
    const { adapter, seen: statements } = counting(new SqliteAdapter(path));
    const ledger = new Ledger(adapter);
    cleanups.unshift(() => ledger.close());
    await ledger.migrate();
    const reader = new Database(path, { readonly: true });
    cleanups.unshift(async () => {
      reader.close();
    });
    const plan = ({ sql, params }: { sql: string; params: readonly unknown[] }) =>
      reader.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params.map((p) => (p === undefined ? null : p))) as Array<{ id: number; parent: number; detail: string }>;
    return { ledger, statements, plan };
  }

  /** Group 42 with `n` members, all of them synced as a worker records it. */
  async function syncedGroup(ledger: Ledger, n: number): Promise<void> {
    await ledger.accept(ogEvent({ type: 'og.group.snapshot', group: { id: 42, title: 'Big' }, members: members(n) }, Date.now()));
    const work = (await ledger.loadWork(42, Date.now(), n))!;
    const lease = await asHolder(ledger, 42);
    await ledger.groupSynced(lease, work.group.dirtySeq, CIVI, Date.now());
    await ledger.finishMembers(lease, work.members.map((m) => ({ uid: m.uid, dirtySeq: m.dirtySeq, civiMemberStatus: 'Added' })), []);
  }

  it('never scans a JSON batch once per row of a table (the batch drives the lookups)', async () => {
    const { ledger, statements, plan: planOf } = await plannedLedger();
    await syncedGroup(ledger, 50);
    await ledger.saveContacts(members(50).map((m) => ({ uid: m.user.id, contactId: 1000 + m.user.id, linked: true })));

    const batched = statements.filter((s) => s.sql.includes('json_each'));
    expect(batched.length).toBeGreaterThan(3);
    for (const statement of batched) {
      const plan = planOf(statement);
      // Rows of one parent are nested loops, outermost first: a JSON scan after a table's is run once per row of it.
      plan.forEach((row, i) => {
        if (!/SCAN json_each/.test(row.detail)) return;
        const outer = plan.slice(0, i).find((o) => o.parent === row.parent && /^(SCAN|SEARCH) (?!json_each)/.test(o.detail));
        expect(outer, `${statement.sql}\n${plan.map((r) => r.detail).join('\n')}`).toBeUndefined();
      });
    }
  });

  it('writes a single event, its row given as parameters, by looking up the rows it touches, never reading a whole table', async () => {
    const { ledger, statements, plan: planOf } = await plannedLedger();
    await syncedGroup(ledger, 200);
    await ledger.saveContacts([{ uid: 7, contactId: 70, linked: true }]);
    statements.length = 0;
    await ledger.accept(ogEvent({ type: 'og.membership.updated', groupId: 42, member: members(1, 7)[0]! }, Date.now()));
    await ledger.accept(ogEvent({ type: 'og.membership.created', groupId: 42, member: members(1, 9_000)[0]! }, Date.now()));

    const single = statements.filter((s) => s.sql.includes('(SELECT CAST(? AS INTEGER) AS'));
    expect(single.length).toBeGreaterThan(8);
    for (const statement of single) {
      const plan = planOf(statement).map((r) => r.detail);
      // The one-row tables (r, the clock) are scanned, once; a ledger table (or its alias) is only
      // searched by its key: a search by sync state alone would read nearly every row as a scan does.
      for (const detail of plan) {
        const key = BY_KEY[detail.split(' ')[1]!];
        if (key) expect(detail, `${statement.sql}\n${plan.join('\n')}`).toMatch(key);
      }
    }
  });

  it('finds due work by stepping through the groups that have dirty members, never reading every dirty member', async () => {
    const { ledger, statements, plan: planOf } = await plannedLedger();
    for (const ogId of [1, 2, 3]) {
      await ledger.accept(ogEvent({ type: 'og.group.snapshot', group: { id: ogId, title: `G${ogId}` }, members: members(200) }, Date.now()));
    }
    const claimed = await ledger.claimWork('w1', Date.now(), 60_000, 10);
    expect(claimed).toMatchObject({ lease: { ogId: 1 }, nextDueMs: 0 });

    const finding = statements.filter((s) => s.sql.includes('member_work'));
    expect(finding).toHaveLength(2); // the look, then the claim
    for (const statement of finding) {
      const plan = planOf(statement).map((r) => r.detail);
      // Each row reads "SEARCH|SCAN <table or alias> …"; og_members is read as itself and as m.
      const members = plan.filter((detail) => ['og_members', 'm'].includes(detail.split(' ')[1]!));
      expect(members.length, plan.join('\n')).toBeGreaterThan(0);
      for (const detail of members) expect(detail, plan.join('\n')).toMatch(/^SEARCH \w+ USING COVERING INDEX og_members_(state_group \(sync_state=\?( AND og_id[>=]\?)?\)|work \(og_id=\? AND sync_state=\? AND next_attempt_at<\?\))/);
    }
  });
});

describe('PostgreSQL query plans', () => {
  it('accepts a few memberships by looking up their rows, never reading a whole table', async () => {
    const schema = await createTestSchema();
    cleanups.push(() => schema.drop());
    const { adapter, seen } = counting(new PostgresAdapter(schema.url));
    const ledger = new Ledger(adapter);
    cleanups.unshift(() => ledger.close());
    await ledger.migrate();
    // Tables big enough, and analyzed, for the planner to weigh a scan against the lookups.
    await ledger.accept(ogEvent({ type: 'og.group.snapshot', group: { id: 42, title: 'Big' }, members: members(5_000) }, Date.now()));
    seen.length = 0;
    await Promise.all(
      [1, 2, 3].map((i) => ledger.accept(ogEvent({ type: 'og.membership.created', groupId: 42, member: members(1, 9_000 + i)[0]! }, Date.now()))),
    );
    await ledger.accept(ogEvent({ type: 'og.membership.updated', groupId: 42, member: { ...members(1, 7)[0]!, state: 'blocked' } }, Date.now()));

    const client = new pg.Client({ connectionString: schema.url });
    await client.connect();
    cleanups.unshift(() => client.end());
    await client.query('ANALYZE');
    // Rows given as a JSON array (a batch) or as parameters of their own (one event).
    const batched = seen.filter((s) => s.sql.includes('jsonb_to_recordset') || s.sql.includes('(SELECT CAST(? AS bigint) AS'));
    expect(batched.length).toBeGreaterThan(8);
    for (const { sql, params } of batched) {
      let n = 0;
      const { rows } = await client.query(`EXPLAIN (FORMAT JSON) ${sql.replace(/\?/g, () => `$${++n}`)}`, [...params]);
      const scans: string[] = [];
      const walk = (node: { 'Node Type': string; 'Relation Name'?: string; Plans?: unknown[] }) => {
        // One group has one row: reading it whole is its cheapest lookup.
        if (node['Node Type'] === 'Seq Scan' && node['Relation Name'] !== 'og_groups') scans.push(node['Relation Name']!);
        for (const child of node.Plans ?? []) walk(child as typeof node);
      };
      walk(rows[0]['QUERY PLAN'][0].Plan);
      expect(scans, sql).toEqual([]);
    }
  });
});

describe.each(ADAPTERS)('statements sent without waiting (%s)', (_name, make) => {
  const probes = async (adapter: Adapter) => (await adapter.db.all<{ id: number }>('SELECT id FROM store_probe ORDER BY id')).map((r) => Number(r.id));
  const NOT_NULL = /null/i;

  it('a failed statement fails its transaction at the commit, and nothing of it is kept', async () => {
    const adapter = await make();
    cleanups.unshift(() => adapter.close());
    await adapter.migrate();
    const write = adapter.write(async (tx) => {
      tx.send('INSERT INTO store_probe (id, at) VALUES (1, 1)');
      tx.send('INSERT INTO store_probe (id, at) VALUES (2, NULL)');
      tx.send('INSERT INTO store_probe (id, at) VALUES (3, 3)');
      return 'done';
    });
    await expect(write).rejects.toThrow(NOT_NULL);
    expect(await probes(adapter)).toEqual([]);
    await adapter.write(async (tx) => tx.send('INSERT INTO store_probe (id, at) VALUES (4, 4)'));
    expect(await probes(adapter)).toEqual([4]);
  });

  it('the next statement awaited throws the failure of one sent before it', async () => {
    const adapter = await make();
    cleanups.unshift(() => adapter.close());
    await adapter.migrate();
    let after: unknown;
    const write = adapter.write(async (tx) => {
      tx.send('INSERT INTO store_probe (id, at) VALUES (1, NULL)');
      after = await tx.all('SELECT id FROM store_probe');
    });
    await expect(write).rejects.toThrow(NOT_NULL);
    expect(after).toBeUndefined();
    expect(await probes(adapter)).toEqual([]);
  });
});

describe('SQLite commits', () => {
  it('a sync record commits without waiting for the disk every time, and an event always waits for it', async () => {
    const dir = tempDir();
    cleanups.push(async () => dir.remove());
    const adapter = new SqliteAdapter(`${dir.path}/commits.sqlite`);
    cleanups.unshift(() => adapter.close());
    // SQLite reads the level when it prepares a pragma: each look is new SQL, prepared now.
    let looks = 0;
    const level = async (db: Db) => {
      const [row] = await db.all<{ synchronous: number }>(`PRAGMA synchronous /* look ${++looks} */`);
      return row!.synchronous;
    };
    const NORMAL = 1;
    const FULL = 2;
    for (let round = 0; round < 3; round++) {
      expect(await adapter.write(level, { durable: false })).toBe(NORMAL);
      expect(await adapter.write(level)).toBe(FULL);
    }
    expect(await level(adapter.db)).toBe(FULL);
  });
});

describe.each(ADAPTERS)('group commit (%s)', (_name, make) => {
  it('writes a burst of membership events in the statements of one, with the effect of one after another', async () => {
    const T = Date.UTC(2026, 10, 24, 10);
    const burst = (): OgEvent[] => [
      // Three groups, one of them never seen; a later and an earlier change than the ledger holds;
      // a redelivery of an event stored before; users with and without profiles.
      ...Array.from({ length: 30 }, (_, i) => ogEvent(
        { type: 'og.membership.created', groupId: 1 + (i % 3), member: { user: { id: 100 + i, email: `m${i}@example.org` }, state: i % 4 === 0 ? 'pending' : 'active', isAdmin: i % 5 === 0 } },
        T + 60_000,
        `burst-${i}`,
      )),
      ogEvent({ type: 'og.membership.updated', groupId: 1, member: { user: { id: 8, firstName: 'Bob' }, state: 'blocked', isAdmin: false } }, T + 120_000, 'newer'),
      ogEvent({ type: 'og.membership.updated', groupId: 1, member: { user: { id: 9 }, state: 'blocked', isAdmin: false } }, T - 120_000, 'older'),
      ogEvent({ type: 'og.membership.deleted', groupId: 2, userId: 9 }, T + 60_000, 'left'),
      ogEvent({ type: 'og.membership.created', groupId: 1, member: { user: { id: 7 }, state: 'active', isAdmin: true } }, T, 'seen-before'),
    ];
    const seed = async (ledger: Ledger) => {
      await ledger.accept(ogEvent({ type: 'og.group.snapshot', group: { id: 1, title: 'One' }, members: members(3, 7) }, T, 'snapshot-1'));
      await ledger.accept(ogEvent({ type: 'og.group.created', group: { id: 2, title: 'Two' } }, T, 'group-2'));
      await ledger.accept(ogEvent({ type: 'og.membership.created', groupId: 1, member: { user: { id: 7 }, state: 'active', isAdmin: true } }, T, 'seen-before'));
    };
    const state = async (ledger: Ledger) => ({
      groups: await Promise.all([1, 2, 3].map(async (id) => ({ ...(await ledger.group(id)), dirtySeq: undefined }))),
      members: (await Promise.all([1, 2, 3].map((id) => ledger.members(id)))).flat().map((m) => ({ ...m, dirtySeq: undefined })),
      users: [...(await ledger.users([7, 8, 9, ...Array.from({ length: 30 }, (_, i) => 100 + i)])).values()],
      events: (await ledger.listEvents({ limit: 100 })).map((e) => ({ id: e.id, status: e.status })).sort((a, b) => a.id.localeCompare(b.id)),
      counts: await ledger.eventCounts(),
    });

    const oneByOne = new Ledger(await make());
    cleanups.unshift(() => oneByOne.close());
    await oneByOne.migrate();
    await seed(oneByOne);
    const sequential = [];
    for (const event of burst()) sequential.push(await oneByOne.accept(event));

    const { adapter, count, waits } = counting(await make());
    const together = new Ledger(adapter);
    cleanups.unshift(() => together.close());
    await together.migrate();
    await seed(together);
    const [before, waitsBefore] = [count(), waits()];
    const batched = await Promise.all(burst().map((event) => together.accept(event)));
    // Only the events' insert is read before the commit: the rest goes with the COMMIT, so on
    // PostgreSQL the batch waits for the server twice.
    expect(waits() - waitsBefore).toBe(1);
    expect(count() - before).toBeLessThan(20);

    expect(batched).toEqual(sequential);
    expect(batched.filter((o) => o === 'duplicate')).toHaveLength(1);
    expect(await state(together)).toEqual(await state(oneByOne));

    // Events with no time of their own are dated by the store in that same insert: no wait more.
    const waitsBeforeDated = waits();
    const dated = Array.from({ length: 10 }, (_, i) => ({
      ...ogEvent({ type: 'og.membership.created', groupId: 3, member: { user: { id: 200 + i }, state: 'active', isAdmin: false } }, T, `dated-${i}`),
      atReceipt: {},
    }));
    expect(await Promise.all(dated.map((event) => together.accept(event)))).toEqual(dated.map(() => 'accepted'));
    expect(waits() - waitsBeforeDated).toBe(1);
  });

  it('answers a whole batch with the outage at once when the store is out of reach, asking it once', async () => {
    const inner = await make();
    let writes = 0;
    // What each driver raises when the database cannot be used at all.
    const outage = Object.assign(new Error('the database is out of reach'), inner.isOutage({ code: 'SQLITE_BUSY' }) ? { code: 'SQLITE_BUSY' } : { code: 'ECONNREFUSED' });
    expect(inner.isOutage(outage)).toBe(true);
    const adapter: Adapter = { ...counting(inner).adapter, write: () => (writes++, Promise.reject(outage)) };
    const ledger = new Ledger(adapter);
    cleanups.unshift(() => ledger.close());
    await inner.migrate();
    const events = Array.from({ length: 10 }, (_, i) => ogEvent({ type: 'og.membership.created', groupId: 1, member: members(1, 100 + i)[0]! }, Date.now()));
    const outcomes = await Promise.allSettled(events.map((event) => ledger.accept(event)));
    expect(outcomes.every((o) => o.status === 'rejected' && o.reason === outage)).toBe(true);
    expect(writes).toBe(1);
  });

  it('commits accepts that arrive together in one transaction; one that fails fails alone, a duplicate is a duplicate', async () => {
    const inner = await make();
    let writes = 0;
    // An event the database refuses in the middle of a batch (as a broken row would), with the
    // driver's code for a failed check.
    const refusal = Object.assign(new Error('refused by the database'), { code: _name === 'SQLite' ? 'SQLITE_CONSTRAINT_CHECK' : '23514' });
    expect(inner.isOutage(refusal)).toBe(false);
    const poisoned = (db: Transaction): Transaction => ({
      // The events' insert holding the poisoned one, alone (its id a parameter) or in the batch (in the JSON).
      all: (sql, params) => (params?.some((p) => p === 'poison' || String(p).includes('"id":"poison"')) ? Promise.reject(refusal) : db.all(sql, params)),
      run: (sql, params) => db.run(sql, params),
      send: (sql, params) => db.send(sql, params),
    });
    const adapter: Adapter = { ...counting(inner).adapter, write: (work) => (writes++, inner.write((db) => work(poisoned(db)))) };
    const ledger = new Ledger(adapter);
    cleanups.unshift(() => ledger.close());
    await ledger.migrate();
    writes = 0;

    const events = Array.from({ length: 40 }, (_, i) => ogEvent(
      { type: 'og.membership.created', groupId: 1 + (i % 5), member: members(1, 100 + i)[0]! },
      Date.now(),
      i === 7 ? 'poison' : i === 9 || i === 29 ? 'twice' : `event-${i}`, // a redelivery: the same id, the same group
    ));
    const outcomes = await Promise.allSettled(events.map((event) => ledger.accept(event)));
    expect(writes).toBeLessThan(5);
    expect(outcomes[7]).toMatchObject({ status: 'rejected', reason: new Error('refused by the database') });
    expect(outcomes.filter((o) => o.status === 'fulfilled' && o.value === 'accepted')).toHaveLength(38);
    expect(outcomes[29]).toEqual({ status: 'fulfilled', value: 'duplicate' });
    expect((await ledger.eventCounts()).accepted).toBe(38);
    expect((await ledger.listEvents({ limit: 100 })).map((e) => e.id)).not.toContain('poison');
    expect((await ledger.members(3)).map((m) => m.uid)).not.toContain(107);
  });
});
