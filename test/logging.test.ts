// What the log says, and what it never holds: tokens sent by mistake in a query string, and one
// line per request or poll while the store is down. And what it keeps: every line made before a
// kill -9.
import { spawn, spawnSync } from 'node:child_process';
import { type Readable, Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { StoreAvailability } from '../src/ledger/availability.js';
import type { Store } from '../src/ledger/store.js';
import { createLogger, loggedUrl, requestLogger } from '../src/logger.js';
import { ADMIN_TOKEN, nativeBody, testApp, type TestApp } from './support/app.js';
import { adminRequest, postNative } from './support/http.js';
import { REPO_ROOT } from './support/process.js';

/** A logger writing JSON lines into memory. */
function memoryLogger(level = 'info') {
  const lines: Array<Record<string, unknown>> = [];
  let raw = '';
  const sink = new Writable({
    write(chunk, _encoding, done) {
      raw += String(chunk);
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: createLogger(level, sink), lines, raw: () => raw };
}

/** The store, with a switch that makes every call fail as a lost database would. */
function breakable(store: Store): { store: Store; down: boolean } {
  const state = { down: false, store: store };
  state.store = new Proxy(store, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        if (state.down) return Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:5432 (driver detail)'));
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return state;
}

const ERROR = 50;

let app: TestApp | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

describe('request URLs in the log', () => {
  it('an admin token sent as ?token= is refused and not logged', async () => {
    const log = memoryLogger();
    app = await testApp({ deps: { logger: log.logger } });
    const res = await app.fastify.inject({ url: `/admin/status?token=${ADMIN_TOKEN}` });
    expect(res.statusCode).toBe(401);
    expect(log.raw()).not.toContain(ADMIN_TOKEN);
    expect(log.lines.filter((l) => l.msg === 'request completed')).toEqual([
      expect.objectContaining({ req: expect.objectContaining({ url: '/admin/status?[redacted]' }), res: { statusCode: 401 } }),
    ]);
    // One line per request at info: the arrival is logged at debug only.
    expect(log.lines.filter((l) => l.msg === 'incoming request')).toEqual([]);
  });

  it("a request's lines keep the secret headers out, and the service's own lines every key", async () => {
    const log = memoryLogger();
    requestLogger(log.logger)
      .child({ reqId: 'req-1' })
      .info({ req: { method: 'POST', url: '/webhooks/og', headers: { 'webhook-signature': 'v1,SIGNATURE-SECRET' } } }, 'request completed');
    log.logger.info({ civicrm: { apiKey: 'API-KEY-SECRET', siteKey: 'SITE-KEY-SECRET' } }, 'configuration');
    expect(log.lines[0]).toMatchObject({ reqId: 'req-1', req: { method: 'POST', url: '/webhooks/og' } });
    expect(log.raw()).not.toMatch(/SECRET/);

    app = await testApp({ deps: { logger: log.logger } });
    const signed = await postNative(app, nativeBody('og.group.created', { group: { id: 42, title: 'Chess Club' } }));
    expect(signed.statusCode).toBe(202);
    expect(log.lines.filter((l) => l.msg === 'request completed').at(-1)).toMatchObject({
      reqId: expect.any(String),
      req: { method: 'POST', url: '/webhooks/og' },
      res: { statusCode: 202 },
      responseTime: expect.any(Number),
    });
  });

  it('other URLs are logged as they came; admin paths keep their path', () => {
    expect(loggedUrl('/webhooks/og')).toBe('/webhooks/og');
    expect(loggedUrl('/healthz?probe=1')).toBe('/healthz?probe=1');
    expect(loggedUrl('/admin/events?status=dead&token=x')).toBe('/admin/events?[redacted]');
    expect(loggedUrl('/admin?token=x')).toBe('/admin?[redacted]');
    expect(loggedUrl('/console/?token=x')).toBe('/console/?[redacted]');
    expect(loggedUrl('/administrator?x=1')).toBe('/administrator?x=1');
  });
});

describe('the log on stdout', () => {
  it('holds every line logged before the process was killed (kill -9)', () => {
    const script = `
      import { createLogger } from ${JSON.stringify(new URL('../src/logger.ts', import.meta.url).href)};
      const logger = createLogger('info');
      for (let i = 0; i < 200; i++) logger.info({ i }, 'request completed');
      process.kill(process.pid, 'SIGKILL');`;
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: REPO_ROOT, encoding: 'utf8' });
    expect(child.signal).toBe('SIGKILL');
    const lines = child.stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line) as { i: number; msg: string });
    expect(lines.map((line) => line.i)).toEqual(Array.from({ length: 200 }, (_, i) => i));
  });

  /**
   * Runs a process that logs 5 MB through the service's logger, a turn of the event loop at a
   * time, then says so on stderr: a writer that blocked or slept on a full pipe, or died of a
   * closed one, would never get there.
   */
  async function logFiveMegabytes(reader: (stdout: Readable) => void): Promise<{ said: string; code: unknown }> {
    const script = `
      import { createLogger } from ${JSON.stringify(new URL('../src/logger.ts', import.meta.url).href)};
      const logger = createLogger('info');
      const filler = 'x'.repeat(1000);
      let i = 0;
      const more = () => {
        for (let j = 0; j < 500; j++) logger.info({ i: i++, filler }, 'request completed');
        setImmediate(i < 5000 ? more : () => { process.stderr.write('went on'); process.exit(0); });
      };
      more();`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    reader(child.stdout);
    let said = '';
    child.stderr.on('data', (chunk: Buffer) => (said += String(chunk)));
    const stuck = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const code = await new Promise((resolve) => child.once('exit', resolve));
    clearTimeout(stuck);
    return { said, code };
  }

  it('keeps lines in memory while stdout does not drain, and the process goes on', async () => {
    expect(await logFiveMegabytes(() => undefined)).toEqual({ said: 'went on', code: 0 });
  });

  it('goes on when the reader of stdout goes away (EPIPE)', async () => {
    expect(await logFiveMegabytes((stdout) => stdout.once('data', () => stdout.destroy()))).toEqual({ said: 'went on', code: 0 });
  });
});

describe('a store outage', () => {
  it('is logged once when it starts and once when it ends, whatever the traffic; answers keep the driver out', async () => {
    const log = memoryLogger();
    // The store of one app, broken and recovered under another.
    const owner = await testApp();
    const broken = breakable(owner.store);
    app = await testApp({ deps: { logger: log.logger, store: broken.store } });
    broken.down = true;
    for (let i = 0; i < 40; i++) {
      const res = await postNative(app, nativeBody('og.group.deleted', { group: { id: 42 } }));
      expect(res.statusCode).toBe(503);
      expect(res.json().detail).toBe('the event store cannot take writes; retry shortly');
    }
    const ready = await app.fastify.inject({ url: '/readyz' });
    expect(ready.json()).toEqual({ status: 'unavailable', store: 'not writable', civicrm: null });
    const status = await adminRequest(app, 'GET', '/admin/status');
    expect(status.statusCode).toBe(503);
    expect(status.json().detail).toContain('ECONNREFUSED 127.0.0.1:5432 (driver detail)');
    // Prometheus still gets its answer, and it says the store is down.
    const metrics = await app.fastify.inject({ url: '/metrics' });
    expect(metrics.statusCode).toBe(200);
    expect(metrics.body).toMatch(/^og_sync_store_up 0$/m);
    expect(metrics.body).toMatch(/^og_sync_store_errors_total 43$/m);

    broken.down = false;
    expect((await postNative(app, nativeBody('og.group.deleted', { group: { id: 42 } }))).statusCode).toBe(202);
    const status2 = await adminRequest(app, 'GET', '/admin/status');
    expect(status2.json().store).toEqual({ available: true, since: null, lastError: null });
    expect((await app.fastify.inject({ url: '/metrics' })).body).toMatch(/^og_sync_store_up 1$/m);

    const errors = log.lines.filter((l) => (l.level as number) >= ERROR);
    expect(errors).toEqual([expect.objectContaining({ msg: 'store unavailable', error: 'connect ECONNREFUSED 127.0.0.1:5432 (driver detail)' })]);
    expect(log.raw()).not.toContain('"stack"');
    expect(log.lines.filter((l) => l.msg === 'store available again')).toEqual([expect.objectContaining({ failures: 43 })]);
    await owner.close();
  });
});

describe('StoreAvailability', () => {
  it('summarizes a long outage now and then, and reports it to the operator view', () => {
    const said: Array<[string, string, object]> = [];
    const logger = {
      error: (fields: object, msg: string) => said.push(['error', msg, fields]),
      warn: (fields: object, msg: string) => said.push(['warn', msg, fields]),
      info: (fields: object, msg: string) => said.push(['info', msg, fields]),
    };
    let now = Date.UTC(2026, 11, 2, 10, 0, 0);
    const availability = new StoreAvailability(logger, { summaryEveryMs: 30_000, now: () => now });
    expect(availability.view()).toEqual({ available: true, since: null, lastError: null });
    for (let second = 0; second < 100; second++) {
      availability.failed(new Error(`refused ${second}`));
      now += 1_000;
    }
    expect(availability.view()).toEqual({ available: false, since: '2026-12-02T10:00:00.000Z', lastError: 'refused 99' });
    availability.succeeded();
    availability.succeeded();
    expect(said.map(([level, msg]) => `${level} ${msg}`)).toEqual([
      'error store unavailable',
      'warn store still unavailable',
      'warn store still unavailable',
      'warn store still unavailable',
      'info store available again',
    ]);
    expect(said[1]![2]).toEqual({ error: 'refused 30', failures: 30, downForMs: 30_000 });
    expect(said[4]![2]).toEqual({ failures: 100, downForMs: 100_000 });
  });
});
