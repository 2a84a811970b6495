// `npm run bench`: measures and prints, never passes or fails. Loopback only, bounded in
// count and in time. Three parts:
//   1. intake: signed POST /webhooks/og over a real socket to an in-process service (no
//      worker), N events at concurrency C: events/s, latency p50/p99, what was answered;
//   2. store: SqliteStore.accept called directly, one event after another: events/s;
//   3. sync: a snapshot of M members into an empty CiviCRM emulator, worker running:
//      members synced per second, CiviCRM requests (per 1,000 members, per member), and
//      the same for a second identical snapshot;
//   4. ledger (bench/ledger.ts): a 10,000-member snapshot accept, and operator reads over a log of
//      1,000,000 settled events, on SQLite and PostgreSQL side by side;
//   5. group body text: htmlToText on hostile HTML of n and 8n characters, and the ratio of
//      the two times (about 8 when the work grows linearly, about 64 when quadratically).
//   0. ingest (bench/ingest.ts): the service, the same with its worker stopped, a bare Fastify
//      route and the same route committing each request to SQLite, side by side, each in its own
//      process, warmed up, then loaded by autocannon in another at 1 and 50 connections:
//      events/s, p50/p99 and server CPU per event, the ratios, a summary line; the figures go to
//      bench/results.json.
// Knobs (environment): BENCH_EVENTS (default 5000), BENCH_CONCURRENCY (20),
// BENCH_MEMBERS (5000), BENCH_PHASE_SECONDS (120, the cap on each phase), BENCH_LOAD_SECONDS (5,
// each ingest run).
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { buildApp } from '../src/app.js';
import { htmlToText } from '../src/events/html-text.js';
import { writeFileSync } from 'node:fs';
import { ingestBench, type IngestFigures } from './ingest.js';
import { ledgerBench } from './ledger.js';
import type { OgEvent } from '../src/events/model.js';
import type { Store } from '../src/ledger/store.js';
import { createMetrics } from '../src/metrics.js';
import { createSync } from '../src/sync/service.js';
import { startEmulator } from '../test/civicrm-emulator/index.js';
import { nativeBody, openTempStore, ogEvent, signedNative, testConfig, uniqueId } from '../test/support/app.js';

const bounded = (name: string, fallback: number, min: number, max: number) => {
  const raw = process.env[name];
  const value = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    console.error(`${name} must be an integer from ${min} to ${max}, got "${raw}"`);
    process.exit(2);
  }
  return value;
};

const EVENTS = bounded('BENCH_EVENTS', 5_000, 1, 100_000);
const CONCURRENCY = bounded('BENCH_CONCURRENCY', 20, 1, 256);
const MEMBERS = bounded('BENCH_MEMBERS', 5_000, 1, 50_000);
const PHASE_MS = bounded('BENCH_PHASE_SECONDS', 120, 5, 1_800) * 1_000;
const LOAD_SECONDS = bounded('BENCH_LOAD_SECONDS', 5, 1, 120);

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

function section(title: string, rows: Array<[string, string]>): void {
  console.log(`\n${title}`);
  const width = Math.max(...rows.map(([k]) => k.length));
  for (const [key, value] of rows) console.log(`  ${key.padEnd(width)}  ${value}`);
}

/** A membership event for event i: spread over 50 groups and 2,000 users. */
function membershipData(i: number) {
  const uid = 1 + (i % 2_000);
  return {
    group_id: 1 + (i % 50),
    user: { id: uid, email: `bench${uid}@example.org`, first_name: 'Bench', last_name: String(uid) },
    state: i % 10 === 0 ? 'pending' : 'active',
    is_admin: i % 25 === 0,
  };
}

async function intakeBench(): Promise<number> {
  const temp = await openTempStore();
  const { fastify } = await buildApp({ config: testConfig(), store: temp.store, metrics: createMetrics() });
  await fastify.listen({ port: 0, host: '127.0.0.1' });
  const origin = `http://127.0.0.1:${(fastify.server.address() as AddressInfo).port}`;
  const pool = new Pool(origin, { connections: CONCURRENCY, pipelining: 1 });
  try {
    // Signed up front: the client's HMAC cost is not the service's.
    const requests = Array.from({ length: EVENTS }, (_, i) =>
      signedNative(nativeBody('og.membership.updated', membershipData(i), new Date(Date.UTC(2026, 0, 1, 0, 0, 0, i)).toISOString())),
    );
    const latencies: number[] = [];
    const statuses = new Map<number, number>();
    let next = 0;
    let stoppedEarly = false;
    const deadline = Date.now() + PHASE_MS;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: Math.min(CONCURRENCY, EVENTS) }, async () => {
        while (next < requests.length) {
          if (Date.now() > deadline) {
            stoppedEarly = true;
            return;
          }
          const { headers, payload } = requests[next++]!;
          const t0 = performance.now();
          const response = await pool.request({ path: '/webhooks/og', method: 'POST', headers, body: payload });
          await response.body.dump();
          latencies.push(performance.now() - t0);
          statuses.set(response.statusCode, (statuses.get(response.statusCode) ?? 0) + 1);
        }
      }),
    );
    const seconds = (performance.now() - started) / 1_000;
    latencies.sort((a, b) => a - b);
    const counts = await temp.store.eventCounts();
    const sent = latencies.length;
    section(`1. intake: signed POST /webhooks/og over loopback, ${fmt(sent)} events, concurrency ${CONCURRENCY}`, [
      ['throughput', `${fmt(sent / seconds)} events/s (${fmt(seconds, 2)} s)`],
      ['latency p50', `${fmt(percentile(latencies, 50), 2)} ms`],
      ['latency p99', `${fmt(percentile(latencies, 99), 2)} ms`],
      ['latency max', `${fmt(latencies.at(-1) ?? NaN, 2)} ms`],
      ['answers', [...statuses].map(([status, n]) => `${status} ×${fmt(n)}`).join(', ')],
      ['stored', `${fmt(counts.accepted)} of ${fmt(sent)} (${fmt((100 * counts.accepted) / Math.max(sent, 1), 1)} % accepted into the store)`],
      ...(stoppedEarly ? [['note', `stopped at the ${PHASE_MS / 1_000} s cap`] as [string, string]] : []),
    ]);
    return sent / seconds;
  } finally {
    await pool.close();
    await fastify.close();
    await temp.dispose();
  }
}

async function storeBench(): Promise<number> {
  const temp = await openTempStore();
  try {
    const events: OgEvent[] = Array.from({ length: EVENTS }, (_, i) => {
      const data = membershipData(i);
      return ogEvent(
        {
          type: 'og.membership.updated',
          groupId: data.group_id,
          member: {
            user: { id: data.user.id, email: data.user.email, firstName: data.user.first_name, lastName: data.user.last_name },
            state: data.state as 'active' | 'pending',
            isAdmin: data.is_admin,
          },
        },
        Date.UTC(2026, 0, 1) + i,
        uniqueId('bench'),
      );
    });
    const deadline = Date.now() + PHASE_MS;
    let done = 0;
    let duplicates = 0;
    const started = performance.now();
    for (const event of events) {
      if (Date.now() > deadline) break;
      if ((await temp.store.accept(event)) === 'duplicate') duplicates++;
      done++;
    }
    const seconds = (performance.now() - started) / 1_000;
    // The same events again: every one a duplicate, the cheap path.
    const againStarted = performance.now();
    let again = 0;
    for (const event of events.slice(0, done)) {
      if (Date.now() > deadline + PHASE_MS) break;
      await temp.store.accept(event);
      again++;
    }
    const againSeconds = (performance.now() - againStarted) / 1_000;
    section(`2. store: SqliteStore.accept directly (WAL, synchronous=FULL), ${fmt(done)} events one after another`, [
      ['accept rate', `${fmt(done / seconds)} events/s (${fmt((1_000 * seconds) / Math.max(done, 1), 3)} ms each)`],
      ['duplicate rate', `${fmt(again / againSeconds)} events/s for the same ids again`],
      ['duplicates on first pass', fmt(duplicates)],
    ]);
    return done / seconds;
  } finally {
    await temp.dispose();
  }
}

async function syncUntilClean(store: Store, what: string): Promise<number> {
  const started = performance.now();
  const deadline = Date.now() + PHASE_MS;
  for (;;) {
    const work = await store.workCounts();
    if (work.groups.dirty === 0 && work.members.dirty === 0) return (performance.now() - started) / 1_000;
    if (Date.now() > deadline) throw new Error(`${what} did not finish within ${PHASE_MS / 1_000} s`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function syncBench(): Promise<{ membersPerSecond: number; requestsPerMember: number; callsPerRequest: number }> {
  const emulator = await startEmulator();
  const temp = await openTempStore();
  const config = testConfig({
    CIVICRM_URL: emulator.restUrl,
    CIVICRM_API_KEY: emulator.apiKey,
    CIVICRM_SITE_KEY: emulator.siteKey,
  });
  const sync = createSync(config, temp.store, { worker: { pollMs: 10 } });
  try {
    const snapshot = (at: number): OgEvent =>
      ogEvent(
        {
          type: 'og.group.snapshot',
          group: { id: 1, title: 'Benchmark Group' },
          members: Array.from({ length: MEMBERS }, (_, i) => ({
            user: { id: i + 1, email: `member${i + 1}@bench.example.org`, firstName: 'Member', lastName: String(i + 1) },
            state: i % 10 === 0 ? ('pending' as const) : ('active' as const),
            isAdmin: i % 50 === 0,
          })),
        },
        at,
      );
    sync.worker.start();
    const rows: Array<[string, string]> = [];
    const firstRun = { membersPerSecond: NaN, requestsPerMember: NaN, callsPerRequest: NaN };
    for (const [label, at] of [
      ['first snapshot (all contacts new)', Date.UTC(2026, 0, 1)],
      ['second identical snapshot', Date.UTC(2026, 0, 2)],
    ] as const) {
      emulator.resetLog();
      await temp.store.accept(snapshot(at));
      sync.worker.wake();
      const seconds = await syncUntilClean(temp.store, label);
      const requests = emulator.requests;
      const calls = emulator.calls.length;
      const dead = (await temp.store.workCounts()).members.dead;
      if (Number.isNaN(firstRun.membersPerSecond)) {
        Object.assign(firstRun, { membersPerSecond: MEMBERS / seconds, requestsPerMember: requests / MEMBERS, callsPerRequest: calls / Math.max(requests, 1) });
      }
      rows.push(
        [label, `${fmt(seconds, 2)} s, ${fmt(MEMBERS / seconds)} members/s`],
        ['  CiviCRM requests', `${fmt(requests)} (${fmt((1_000 * requests) / MEMBERS, 1)} per 1,000 members, ${fmt(requests / MEMBERS, 4)} per member)`],
        ['  CiviCRM API calls', `${fmt(calls)} (${fmt(calls / Math.max(requests, 1), 1)} calls per request)`],
        ['  dead memberships', fmt(dead)],
      );
    }
    section(`3. sync: a ${fmt(MEMBERS)}-member og.group.snapshot into the CiviCRM emulator (concurrency ${config.syncConcurrency})`, rows);
    return firstRun;
  } finally {
    await sync.close();
    await temp.dispose();
    await emulator.close();
  }
}

/** The best of three runs of htmlToText over `html`, in milliseconds. */
function textTime(html: string): number {
  let best = Infinity;
  for (let run = 0; run < 3; run++) {
    const started = performance.now();
    htmlToText(html);
    best = Math.min(best, performance.now() - started);
  }
  return best;
}

function htmlBench(): void {
  const n = 128 * 1024;
  const rows: Array<[string, string]> = [];
  for (const shape of ['<', '<a x="', '<!--', '&#x', '<p>', 'Chess &amp; <b>Go</b> club. ']) {
    const small = textTime(shape.repeat(Math.ceil(n / shape.length)));
    const large = textTime(shape.repeat(Math.ceil((8 * n) / shape.length)));
    rows.push([JSON.stringify(shape), `${fmt(small, 1)} ms for 128 KiB, ${fmt(large, 1)} ms for 1 MiB: ×${fmt(large / small, 1)}`]);
  }
  section('group body text (htmlToText; ×8 is linear, ×64 quadratic)', rows);
}

const TARGET_NAMES: Record<IngestFigures['target'], string> = {
  service: 'service',
  intake: 'intake alone (worker stopped)',
  bare: 'bare Fastify',
  'bare-commit': 'bare Fastify + SQLite commit',
};

/** The ingest table, its ratios and the summary line; the figures are written to bench/results.json. */
function reportIngest(figures: IngestFigures[]): string {
  const rows: Array<[string, string]> = figures.map((f) => [
    `${TARGET_NAMES[f.target]} · ${f.connections} connection${f.connections === 1 ? '' : 's'}`,
    `${fmt(f.eventsPerSecond)} events/s · p50 ${fmt(f.p50Ms, 2)} ms · p99 ${fmt(f.p99Ms, 2)} ms · ${fmt(f.cpuMicrosPerEvent)} µs CPU/event` +
      (f.failed > 0 ? ` · ${fmt(f.failed)} failed` : ''),
  ]);
  const of = (target: IngestFigures['target'], connections: number) => figures.find((f) => f.target === target && f.connections === connections)!;
  for (const connections of [1, 50]) {
    for (const yardstick of ['bare', 'bare-commit'] as const) {
      const base = of(yardstick, connections);
      for (const target of ['service', 'intake'] as const) {
        const measured = of(target, connections);
        rows.push([
          `${target} / ${yardstick} · ${connections}`,
          `${fmt(measured.eventsPerSecond / base.eventsPerSecond, 2)} of the throughput, ${fmt(measured.cpuMicrosPerEvent / base.cpuMicrosPerEvent, 1)}× the CPU per event`,
        ]);
      }
    }
  }
  section(
    `0. ingest: the service (worker syncing to CiviCRM at 2 ms), the same without its worker, a bare Fastify route, and the same route committing each request to SQLite; autocannon ${LOAD_SECONDS} s per run`,
    rows,
  );
  const at50 = of('service', 50);
  const at1 = of('service', 1);
  writeFileSync(new URL('./results.json', import.meta.url), `${JSON.stringify({ at: new Date().toISOString(), node: process.version, ingest: figures }, null, 2)}\n`);
  return `ingest: ${fmt(at50.eventsPerSecond)} events/s at 50 connections (p99 ${fmt(at50.p99Ms, 1)} ms, ${fmt(at50.cpuMicrosPerEvent)} µs CPU/event); ` +
    `1 connection p50 ${fmt(at1.p50Ms, 2)} ms, ${fmt(at1.cpuMicrosPerEvent)} µs CPU/event`;
}

console.log(`og-civicrm-sync bench · node ${process.version} · ${new Date().toISOString()}`);
const summary = reportIngest(await ingestBench(LOAD_SECONDS));
htmlBench();
const intakeRate = await intakeBench();
const storeRate = await storeBench();
const synced = await syncBench();
await ledgerBench(section, fmt);
section('ratios', [
  ['intake / direct store accept', `${fmt(intakeRate / storeRate, 2)} (HTTP, signature and validation on top of the store at concurrency ${CONCURRENCY})`],
  ['sync / intake', `${fmt(synced.membersPerSecond / intakeRate, 2)} members synced per event taken in`],
  ['CiviCRM requests per member', fmt(synced.requestsPerMember, 4)],
  ['API calls per request', fmt(synced.callsPerRequest, 1)],
]);
console.log(`\n${summary}`);
