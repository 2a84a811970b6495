// The ledger on both stores, side by side: a 10,000-member snapshot accepted into an empty store,
// and what the operator reads cost with 1,000,000 settled events in the log (/admin/status's
// counts, /metrics's work counts, the pending, dead and done listings).
import { performance } from 'node:perf_hooks';
import type { OgMember } from '../src/events/model.js';
import { ogEvent } from '../test/support/app.js';
import { openPostgresTempStore } from '../test/support/postgres.js';
import { TEMP_STORES, type StoreKind, type TempStore as Temp } from '../test/support/stores.js';

const SETTLED = 1_000_000;
const GROUPS = 1_000;

async function ms(work: () => Promise<unknown>, runs = 5): Promise<number> {
  let best = Infinity;
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    await work();
    best = Math.min(best, performance.now() - started);
  }
  return best;
}

const members = (n: number): OgMember[] =>
  Array.from({ length: n }, (_, i) => ({ user: { id: 1 + i, email: `m${i}@example.org` }, state: 'active', isAdmin: i % 50 === 0 }));

async function snapshotAccept(open: () => Promise<Temp>): Promise<number> {
  const temp = await open();
  try {
    const event = ogEvent({ type: 'og.group.snapshot', group: { id: 42, title: 'Big' }, members: members(10_000) }, Date.now());
    const started = performance.now();
    await temp.store.accept(event);
    return performance.now() - started;
  } finally {
    await temp.dispose();
  }
}

/** A log of 1,000,000 settled events over 1,000 clean groups, then a little unsettled work. */
async function bigLog(temp: Temp, dialect: StoreKind): Promise<void> {
  const series =
    dialect === 'sqlite'
      ? `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${SETTLED}) SELECT i FROM n`
      : `SELECT i FROM generate_series(1, ${SETTLED}) AS i`;
  await temp.exec(`
    INSERT INTO og_groups (og_id, title, changed_at, dirty_seq, synced_seq, sync_state)
      SELECT i, 'Group ' || i, 0, ${SETTLED}, ${SETTLED}, 'clean' FROM (${series.replace(String(SETTLED), String(GROUPS))}) g;
    INSERT INTO events (id, source, type, occurred_at, received_at, change)
      SELECT 'settled-' || i, 'og', 'og.group.updated', i, i, '{}' FROM (${series}) e;
    INSERT INTO event_targets (event_seq, og_id, uid) SELECT seq, 1 + seq % ${GROUPS}, 0 FROM events;
    UPDATE event_counter SET accepted = accepted + ${SETTLED} WHERE shard = 0;
    ANALYZE;`); // statistics, as a database that has been running has them (autovacuum, or SQLite's optimize)
  for (let i = 0; i < 20; i++) {
    await temp.store.accept(ogEvent({ type: 'og.membership.created', groupId: 1 + i, member: members(1)[0]! }, Date.now()));
  }
}

async function operatorReads(open: () => Promise<Temp>, dialect: StoreKind): Promise<Record<string, number>> {
  const temp = await open();
  try {
    await bigLog(temp, dialect);
    const { store } = temp;
    return {
      '/admin/status counts': await ms(() => store.eventCounts()),
      '/metrics work counts': await ms(() => store.workCounts()),
      '?status=pending': await ms(() => store.listEvents({ status: 'pending', limit: 100 })),
      '?status=dead': await ms(() => store.listEvents({ status: 'dead', limit: 100 })),
      '?status=done (a page)': await ms(() => store.listEvents({ status: 'done', limit: 100 })),
    };
  } finally {
    await temp.dispose();
  }
}

export async function ledgerBench(section: (title: string, rows: Array<[string, string]>) => void, fmt: (n: number, d?: number) => string) {
  const pgUp = await openPostgresTempStore().then(
    (t) => t.dispose().then(() => true),
    () => false,
  );
  const stores = TEMP_STORES.filter(([, , kind]) => kind === 'sqlite' || pgUp);
  const snapshot: Array<[string, string]> = [];
  for (const [name, open] of stores) snapshot.push([name, `${fmt(await snapshotAccept(open), 0)} ms`]);
  if (!pgUp) snapshot.push(['PostgreSQL', 'skipped: not reachable at TEST_DATABASE_URL']);
  section('ledger: a 10,000-member snapshot accepted into an empty store (one transaction, a bounded number of statements)', snapshot);

  const reads: Array<[string, string]> = [];
  for (const [name, open, dialect] of stores) {
    for (const [what, took] of Object.entries(await operatorReads(open, dialect))) reads.push([`${name} ${what}`, `${fmt(took, 1)} ms`]);
  }
  section(`ledger: operator reads with ${fmt(SETTLED)} settled events and 20 pending (best of 5)`, reads);
}
