// Ingest side by side: the service (worker syncing to a CiviCRM emulator answering in 2 ms), the
// same with its worker stopped (the intake alone: what an event costs before its sync), a bare
// Fastify route answering 202, and the same route committing each request to SQLite first (the
// cost of a durable answer alone), each in its own process, loaded by the same generator
// (autocannon, in a process of its own) at 1 and at 50 connections in one run. Server CPU per
// event is the server process's own process.cpuUsage(). Without a worker nothing becomes clean,
// so there an event that restates a membership is written as a change: the intake alone can come
// out dearer than the service where most events are restatements (50 connections).
//
// Steady state, not start-up: all four servers first take warm-up loads at 10 and at 1 connection
// (V8 compiles the hot paths in their first seconds, on threads whose CPU would be counted; a first
// 1-connection run after a 10-connection warm-up alone cost a quarter more CPU per event than the
// runs after it), and every run begins with the worker idle and the backlog of the run before
// synced. Each run posts memberships of users the service has not seen (a range of uids of its
// own), so its first 2,000 events each make a contact and a membership in CiviCRM, as a bulk
// operation in Drupal does; the events after those restate them, as re-saves in Drupal do.
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmulator } from '../test/civicrm-emulator/index.js';

const SECRET = 'whsec_' + Buffer.from('the bench secret of 32 bytes!!!!').toString('base64');
const ADMIN_TOKEN = 'the bench admin token, 32 bytes!';
/** Loads of the warm-up: a server warmed at many connections still compiles its one-connection path. */
const WARM_UPS = [
  { connections: 10, seconds: 3 },
  { connections: 1, seconds: 3 },
];
/** The longest wait for the service's worker to sync what a run left. */
const DRAIN_MS = 120_000;
const HERE = new URL('.', import.meta.url).pathname;

export interface IngestFigures {
  connections: number;
  /**
   * The service; the same with its worker stopped (the intake alone); a bare Fastify route; the
   * same route committing each request as one row to SQLite before it answers.
   */
  target: 'service' | 'intake' | 'bare' | 'bare-commit';
  eventsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  cpuMicrosPerEvent: number;
  requests: number;
  failed: number;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

function spawnTs(file: string, env: Record<string, string>, args: string[] = []): ChildProcess {
  return fork(join(HERE, file), args, { execArgv: ['--import', 'tsx'], env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
}

function nextMessage<T>(child: ChildProcess, key: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: Record<string, unknown>) => {
      if (!(key in message)) return;
      child.off('message', onMessage);
      resolve(message as T);
    };
    child.on('message', onMessage);
    child.once('exit', (code) => reject(new Error(`${key}: the process exited (${code})`)));
  });
}

async function cpuMicros(child: ChildProcess): Promise<number> {
  const reply = nextMessage<{ cpu: NodeJS.CpuUsage }>(child, 'cpu');
  child.send('cpu');
  const { cpu } = await reply;
  return cpu.user + cpu.system;
}

async function load(url: string, connections: number, durationSeconds: number, uidBase: number) {
  const child = spawnTs('ingest-load.ts', {}, [JSON.stringify({ url, connections, durationSeconds, secret: SECRET, uidBase })]);
  const result = await nextMessage<{ requests: number; perSecond: number; p50: number; p99: number; non2xx: number; errors: number }>(child, 'requests');
  child.kill();
  return result;
}

/** Waits until the service has synced every event it took, by its own /admin/status. */
async function drained(origin: string): Promise<void> {
  const deadline = Date.now() + DRAIN_MS;
  for (;;) {
    const response = await fetch(`${origin}/admin/status`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    const status = (await response.json()) as { pending: number; retrying: number };
    if (status.pending === 0 && status.retrying === 0) return;
    if (Date.now() > deadline) throw new Error(`the service still had ${status.pending + status.retrying} events to sync after ${DRAIN_MS / 1_000} s`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function measure(
  target: IngestFigures['target'],
  child: ChildProcess,
  url: string,
  connections: number,
  seconds: number,
  uidBase: number,
): Promise<IngestFigures> {
  const before = await cpuMicros(child);
  const result = await load(url, connections, seconds, uidBase);
  const cpu = (await cpuMicros(child)) - before;
  return {
    connections,
    target,
    eventsPerSecond: result.perSecond,
    p50Ms: result.p50,
    p99Ms: result.p99,
    cpuMicrosPerEvent: cpu / Math.max(1, result.requests),
    requests: result.requests,
    failed: result.non2xx + result.errors,
  };
}

export async function ingestBench(seconds: number): Promise<IngestFigures[]> {
  const emulator = await startEmulator();
  emulator.faults.latency(2);
  const dir = mkdtempSync(join(tmpdir(), 'og-sync-ingest-'));
  const [servicePort, intakePort, barePort, committingPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const serviceEnv = (port: number, file: string) => ({
    PORT: String(port),
    HOST: '127.0.0.1',
    DATABASE_URL: `sqlite:${join(dir, file)}`,
    CIVICRM_URL: emulator.restUrl,
    CIVICRM_API_KEY: emulator.apiKey,
    CIVICRM_SITE_KEY: emulator.siteKey,
    WEBHOOK_SECRETS: SECRET,
    ADMIN_TOKEN,
    LOG_LEVEL: 'info',
    RESYNC_INTERVAL: '0',
  });
  const service = spawnTs('ingest-service.ts', serviceEnv(servicePort, 'ledger.sqlite'));
  const intake = spawnTs('ingest-service.ts', { ...serviceEnv(intakePort, 'intake.sqlite'), BENCH_WORKER: 'off' });
  const bare = spawnTs('ingest-bare.ts', { PORT: String(barePort) });
  const committing = spawnTs('ingest-bare.ts', { PORT: String(committingPort), BARE_COMMIT: join(dir, 'bare.sqlite') });
  const servers = [service, intake, bare, committing];
  try {
    await Promise.all(servers.map((server) => nextMessage(server, 'ready')));
    const serviceOrigin = `http://127.0.0.1:${servicePort}`;
    const serviceUrl = `${serviceOrigin}/webhooks/og`;
    const intakeUrl = `http://127.0.0.1:${intakePort}/webhooks/og`;
    const bareUrl = `http://127.0.0.1:${barePort}/webhooks/og`;
    const committingUrl = `http://127.0.0.1:${committingPort}/webhooks/og`;
    for (const [i, { connections, seconds }] of WARM_UPS.entries()) {
      for (const url of [serviceUrl, intakeUrl, bareUrl, committingUrl]) await load(url, connections, seconds, 900_000 + i * 10_000);
    }
    const figures: IngestFigures[] = [];
    for (const [run, connections] of [1, 50].entries()) {
      const uidBase = (run + 1) * 100_000;
      await drained(serviceOrigin);
      figures.push(await measure('service', service, serviceUrl, connections, seconds, uidBase));
      // The others get the machine to themselves too, not beside the worker's backlog.
      await drained(serviceOrigin);
      figures.push(await measure('intake', intake, intakeUrl, connections, seconds, uidBase));
      figures.push(await measure('bare', bare, bareUrl, connections, seconds, uidBase));
      figures.push(await measure('bare-commit', committing, committingUrl, connections, seconds, uidBase));
    }
    return figures;
  } finally {
    for (const server of servers) server.kill('SIGTERM');
    await Promise.all(servers.map((server) => new Promise((r) => server.once('exit', r))));
    await emulator.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
