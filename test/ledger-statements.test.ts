// The ledger's writes take a bounded number of statements, whatever the number of members: a
// 2,000-member snapshot costs what a 10-member one does, on both stores.
import { afterEach, describe, expect, it } from 'vitest';
import type { OgMember } from '../src/events/model.js';
import { Ledger } from '../src/ledger/ledger.js';
import { PostgresAdapter } from '../src/ledger/postgres.js';
import type { Adapter, Db } from '../src/ledger/sql.js';
import { SqliteAdapter } from '../src/ledger/sqlite.js';
import { asHolder, CIVI, ogEvent, tempDir } from './support/app.js';
import { createTestSchema } from './support/postgres.js';

/** An adapter that counts the statements run through it. */
function counting(inner: Adapter): { adapter: Adapter; count: () => number } {
  let statements = 0;
  const wrap = (db: Db): Db => ({
    all: (sql, params) => (statements++, db.all(sql, params)),
    run: (sql, params) => (statements++, db.run(sql, params)),
  });
  const adapter: Adapter = {
    dialect: inner.dialect,
    db: wrap(inner.db),
    write: (work) => inner.write((db) => work(wrap(db))),
    read: (work) => inner.read((db) => work(wrap(db))),
    lockGroupWriters: (db, ogId) => inner.lockGroupWriters(db, ogId),
    nextSeq: (db) => inner.nextSeq(db),
    migrate: () => inner.migrate(),
    close: () => inner.close(),
  };
  return { adapter, count: () => statements };
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
});
