// The process from the outside: start-up errors, secrets in the logs, SIGTERM, and the
// `migrate` and `send` commands, each run as a real child process.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { migrations } from '../src/ledger/migrations.js';
import { SqliteStore } from '../src/ledger/sqlite.js';
import { ADMIN_TOKEN, SECRET, nativeBody, signedDrupal, signedNative, tempDir, testEnv } from './support/app.js';
import { GiveUp, pollUntil, REPO_ROOT, runCli, spawnTs, startService, type Child, type Service } from './support/process.js';

let dir: ReturnType<typeof tempDir>;
let dbPath: string;
const services: Service[] = [];

beforeEach(() => {
  dir = tempDir();
  dbPath = join(dir.path, 'store.sqlite');
});

afterEach(async () => {
  for (const service of services.splice(0)) {
    service.child.signal('SIGKILL');
    await service.child.exited;
  }
  dir.remove();
});

async function start(env: Record<string, string>): Promise<Service> {
  const service = await startService(env);
  services.push(service);
  return service;
}

const membership = (uid: number, groupId = 42) =>
  nativeBody('og.membership.created', { group_id: groupId, user: { id: uid, email: `u${uid}@example.org` }, state: 'active', is_admin: false });

/** Runs the service with `env` until it exits by itself; it must, within the deadline. */
async function runUntilExit(env: Record<string, string>) {
  const child = spawnTs('src/main.ts', [], { HOST: '127.0.0.1', PORT: '0', ...env });
  const exit = await child.waitForExit();
  return { ...exit, stdout: child.stdout, stderr: child.stderr };
}

function expectOneLineNaming(output: { code: number | null; stdout: string; stderr: string }, variable: string) {
  expect(output.code, `exit code; stderr: ${output.stderr}`).not.toBe(0);
  expect(output.code).not.toBeNull();
  const lines = output.stderr.split('\n').filter((line) => line.trim() !== '');
  expect(lines, `stderr: ${output.stderr}`).toHaveLength(1);
  expect(lines[0]).toContain(variable);
  expect(output.stderr).not.toMatch(/^\s+at /m);
  expect(output.stderr).not.toMatch(/Error:|node:internal|\.ts:\d+/);
}

describe('start-up with a bad configuration', () => {
  const cases: Array<[string, Record<string, string | undefined>]> = [
    ['CIVICRM_API_KEY', { CIVICRM_API_KEY: undefined }],
    ['CIVICRM_URL', { CIVICRM_URL: undefined }],
    ['WEBHOOK_SECRETS', { WEBHOOK_SECRETS: undefined }],
    ['PORT', { PORT: 'eighty' }],
    ['CIVICRM_URL', { CIVICRM_URL: 'crm.example.org/civicrm/ajax/rest' }],
    ['LOG_LEVEL', { LOG_LEVEL: 'loud' }],
    ['ON_GROUP_DELETE', { ON_GROUP_DELETE: 'archive' }],
    // Unpadded base64: once a stack trace from the signature library.
    ['WEBHOOK_SECRETS', { WEBHOOK_SECRETS: 'whsec_abc' }],
    // Valid syntax, but no database answers there: still one line, naming the variable.
    ['DATABASE_URL', { DATABASE_URL: 'postgres://og@127.0.0.1:9/og' }],
  ];
  for (const [variable, change] of cases) {
    it(`${JSON.stringify(change)} stops with exactly one line naming ${variable}`, async () => {
      const env: Record<string, string> = testEnv({ DATABASE_URL: `sqlite:${dbPath}` });
      for (const [name, value] of Object.entries(change)) {
        if (value === undefined) delete env[name];
        else env[name] = value;
      }
      const output = await runUntilExit(env);
      expectOneLineNaming(output, variable);
      // Nothing listened, nothing was logged as if it had.
      expect(output.stdout).not.toMatch(/serving|listening/i);
    });
  }

  it('a store path that cannot be created stops with one line', async () => {
    const blocker = join(dir.path, 'a-file');
    writeFileSync(blocker, 'not a directory');
    const output = await runUntilExit(testEnv({ DATABASE_URL: `sqlite:${join(blocker, 'store.sqlite')}` }));
    expect(output.code).not.toBe(0);
    const lines = output.stderr.split('\n').filter((line) => line.trim() !== '');
    expect(lines, `stderr: ${output.stderr}`).toHaveLength(1);
    expect(output.stderr).not.toMatch(/^\s+at /m);
  });

  it('a port already in use stops the process (non-zero) instead of hanging', async () => {
    const running = await start(testEnv({ DATABASE_URL: `sqlite:${dbPath}`, LOG_LEVEL: 'warn' }));
    const other = spawnTs('src/main.ts', [], testEnv({ HOST: '127.0.0.1', PORT: String(running.port), DATABASE_URL: `sqlite:${join(dir.path, 'b.sqlite')}` }));
    const exit = await other.waitForExit();
    expect(exit.code).not.toBe(0);
    expect(other.stdout + other.stderr).toMatch(/EADDRINUSE/);
  });
});

describe('secrets never appear in the output', () => {
  const variants: Array<{ level: string; auth: string }> = [
    { level: 'info', auth: 'legacy' },
    { level: 'debug', auth: 'legacy' },
    { level: 'debug', auth: 'authx' },
  ];
  for (const { level, auth } of variants) {
    it(`at LOG_LEVEL=${level} with CIVICRM_AUTH=${auth}, through requests, sync attempts and shutdown`, async () => {
      const apiKey = `apikey${randomBytes(12).toString('hex')}`;
      const siteKey = `sitekey${randomBytes(12).toString('hex')}`;
      const adminToken = `admintoken${randomBytes(12).toString('hex')}`;
      const standardKey = randomBytes(32).toString('base64');
      const standardSecret = `whsec_${standardKey}`;
      const plainSecret = `plainsecret${randomBytes(12).toString('hex')}`;
      const service = await start(
        testEnv({
          DATABASE_URL: `sqlite:${dbPath}`,
          LOG_LEVEL: level,
          CIVICRM_AUTH: auth,
          CIVICRM_API_KEY: apiKey,
          CIVICRM_SITE_KEY: siteKey,
          ADMIN_TOKEN: adminToken,
          WEBHOOK_SECRETS: `${standardSecret},${plainSecret}`,
        }),
      );

      const native = signedNative(membership(7), { secret: standardSecret });
      const accepted = await fetch(`${service.url}/webhooks/og`, { method: 'POST', headers: native.headers, body: native.payload });
      expect(accepted.status).toBe(202);
      const group = { event: 'entity:node:create', entity: { nid: [{ value: 43 }], type: [{ target_id: 'group' }], title: [{ value: 'G' }], uid: [{ target_id: 7 }] } };
      const drupal = signedDrupal('entity:node:create', group, { secret: plainSecret });
      expect((await fetch(`${service.url}/webhooks/drupal`, { method: 'POST', headers: drupal.headers, body: drupal.payload })).status).toBe(202);
      // A wrong token and a bad signature are logged as failures, with their headers.
      expect((await fetch(`${service.url}/admin/status`, { headers: { authorization: `Bearer ${adminToken}x` } })).status).toBe(401);
      const forged = signedNative(membership(8), { secret: 'whsec_' + randomBytes(32).toString('base64') });
      expect((await fetch(`${service.url}/webhooks/og`, { method: 'POST', headers: forged.headers, body: forged.payload })).status).toBe(401);

      // Give the reconciler a chance to call CiviCRM (which is not there, so it fails) with the
      // credentials, and to log about it.
      await pollUntil(
        async () => {
          const response = await fetch(`${service.url}/admin/groups/42`, { headers: { authorization: `Bearer ${adminToken}` } });
          expect(response.status).toBe(200);
          const { group, members } = (await response.json()) as { group: { attempts: number }; members: Array<{ attempts: number }> };
          return group.attempts > 0 || members.some((m) => m.attempts > 0);
        },
        { timeoutMs: 20_000, what: 'a sync attempt' },
      ).catch(async (error: Error) => {
        // Without a reconciler there is nothing to wait for; with one, it must have tried.
        const response = await fetch(`${service.url}/admin/status`, { headers: { authorization: `Bearer ${adminToken}` } });
        const { civicrm } = (await response.json()) as { civicrm: { reachable: boolean | null } };
        if (civicrm.reachable !== null) throw error;
      });

      service.child.signal('SIGTERM');
      const exit = await service.child.waitForExit();
      expect(exit.code).toBe(0);

      const output = service.child.stdout + service.child.stderr;
      expect(service.child.logLines().length).toBeGreaterThan(0);
      if (level === 'debug' || level === 'info') expect(output).toMatch(/request completed/);
      if (level === 'debug') expect(output).toMatch(/incoming request/);
      const secrets = {
        apiKey,
        siteKey,
        adminToken,
        standardSecret,
        standardKey,
        plainSecret,
        nativeSignature: native.headers['webhook-signature'].slice(3),
        drupalSignature: drupal.headers['x-hub-signature-256'].slice('sha256='.length),
      };
      for (const [name, secret] of Object.entries(secrets)) {
        expect(output.includes(secret), `${name} appears in the output`).toBe(false);
        // Nor URL-encoded, as in a logged form body or query string.
        expect(output.includes(encodeURIComponent(secret)), `${name} (URL-encoded) appears in the output`).toBe(false);
      }
    });
  }
});

/** A POST whose body is sent in two parts, the second only when `finish` is called. */
function slowPost(url: string, headers: Record<string, string>, payload: string) {
  const bytes = Buffer.from(payload);
  const req = request(url, { method: 'POST', agent: false, headers: { ...headers, 'content-length': String(bytes.length) } });
  const answer = new Promise<{ status: number; text: string; connection: string | undefined }>((resolve, reject) => {
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text, connection: res.headers.connection }));
    });
    req.on('error', reject);
  });
  const half = Math.floor(bytes.length / 2);
  req.write(bytes.subarray(0, half));
  return { answer, finish: () => req.end(bytes.subarray(half)) };
}

/** Whether a new request is turned away: connection refused, or 503. */
async function refused(url: string): Promise<boolean> {
  try {
    const response = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(5_000) });
    await response.arrayBuffer();
    return response.status === 503;
  } catch {
    return true;
  }
}

describe('SIGTERM', () => {
  it('stops accepting, lets in-flight requests finish, exits 0 and leaves the store intact', async () => {
    // At debug, the log says when a request arrives, before it is answered.
    const service = await start(testEnv({ DATABASE_URL: `sqlite:${dbPath}`, LOG_LEVEL: 'debug' }));
    const before = Array.from({ length: 5 }, (_, i) => signedNative(membership(100 + i)));
    for (const event of before) {
      expect((await fetch(`${service.url}/webhooks/og`, { method: 'POST', headers: event.headers, body: event.payload })).status).toBe(202);
    }

    // A delivery in flight: headers and half the body are in when the signal comes.
    const inFlight = signedNative(membership(200));
    const slow = slowPost(`${service.url}/webhooks/og`, inFlight.headers, inFlight.payload);
    await service.child.waitForLog(
      (line) => line.msg === 'incoming request' && (line.req as { url?: string } | undefined)?.url === '/webhooks/og' && countIncoming(service.child) > before.length,
      'the in-flight request to arrive',
    );

    service.child.signal('SIGTERM');
    await service.child.waitForLog((line) => line.msg === 'stopping', 'the shutdown to begin');

    // New requests are turned away while the in-flight one holds the process open.
    await pollUntil(
      async () => {
        if (!service.child.running) throw new GiveUp('the process exited before the in-flight request finished');
        return refused(service.url);
      },
      { what: 'new requests to be refused' },
    );
    const late = signedNative(membership(300));
    const lateAnswer = await fetch(`${service.url}/webhooks/og`, { method: 'POST', headers: late.headers, body: late.payload }).then(
      (r) => r.status,
      () => 'refused' as const,
    );
    expect(['refused', 503]).toContain(lateAnswer);
    expect(service.child.running).toBe(true);

    slow.finish();
    const answer = await slow.answer;
    expect(answer.status, answer.text).toBe(202);
    expect(JSON.parse(answer.text)).toEqual({ id: inFlight.id, status: 'accepted' });

    const exit = await service.child.waitForExit();
    expect(exit).toEqual({ code: 0, signal: null });
    expect(service.child.stderr).toBe('');

    const db = new Database(dbPath, { readonly: true });
    try {
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    } finally {
      db.close();
    }
    const store = new SqliteStore(dbPath);
    try {
      expect(await store.migrate()).toEqual([]);
      const ids = (await store.listEvents({ limit: 100 })).map((e) => e.id);
      expect(ids).toEqual(expect.arrayContaining([...before.map((e) => e.id), inFlight.id]));
      expect(ids).not.toContain(late.id);
      expect((await store.members(42)).map((m) => m.uid)).toEqual(expect.arrayContaining([100, 101, 102, 103, 104, 200]));
    } finally {
      await store.close();
    }
  });

  it('an idle service exits 0 promptly', async () => {
    const service = await start(testEnv({ DATABASE_URL: `sqlite:${dbPath}`, LOG_LEVEL: 'info' }));
    service.child.signal('SIGTERM');
    expect(await service.child.waitForExit()).toEqual({ code: 0, signal: null });
    expect(service.child.logLines().some((line) => line.msg === 'stopping' && line.signal === 'SIGTERM')).toBe(true);
  });
});

function countIncoming(child: Child): number {
  return child.logLines().filter((line) => line.msg === 'incoming request' && (line.req as { url?: string } | undefined)?.url === '/webhooks/og').length;
}

describe('og-civicrm-sync migrate', () => {
  it('creates the schema, and a second run says it is up to date', async () => {
    const path = join(dir.path, 'nested', 'store.sqlite');
    const first = await runCli(['migrate'], { DATABASE_URL: `sqlite:${path}` });
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout.trim()).toBe(`applied migrations ${migrations.map((m) => m.version).join(', ')}`);
    expect(first.stderr).toBe('');

    const db = new Database(path, { readonly: true });
    try {
      const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all();
      expect(tables).toEqual(expect.arrayContaining(['schema_migrations', 'events', 'event_targets', 'og_groups', 'og_members', 'users']));
    } finally {
      db.close();
    }

    const second = await runCli(['migrate'], { DATABASE_URL: `sqlite:${path}` });
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout.trim()).toBe('schema is up to date');

    const store = new SqliteStore(path);
    try {
      expect(await store.migrate()).toEqual([]);
    } finally {
      await store.close();
    }
  });

  it('needs no CiviCRM or webhook configuration', async () => {
    const result = await runCli(['migrate'], { DATABASE_URL: `sqlite:${dbPath}` });
    expect(result.code).toBe(0);
  });

  it('a bad DATABASE_URL stops it with one line naming the variable', async () => {
    expectOneLineNaming(await runCli(['migrate'], { DATABASE_URL: 'mysql://db/og' }), 'DATABASE_URL');
  });
});

describe('og-civicrm-sync send', () => {
  it('signs and posts an event to the running service and prints the 202 answer', async () => {
    const service = await start(testEnv({ DATABASE_URL: `sqlite:${dbPath}`, LOG_LEVEL: 'warn' }));
    const file = join(dir.path, 'event.json');
    writeFileSync(file, `${JSON.stringify(membership(7, 77), null, 2)}\n`);
    const env = { WEBHOOK_SECRETS: SECRET, PORT: String(service.port) };

    const sent = await runCli(['send', file, '--id', 'manual-1'], env);
    expect(sent.code, sent.stderr).toBe(0);
    expect(sent.stdout.trim()).toBe('202 {"id":"manual-1","status":"accepted"}');

    const again = await runCli(['send', file, '--id', 'manual-1', '--url', `${service.url}/webhooks/og`], env);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout.trim()).toBe('202 {"id":"manual-1","status":"duplicate"}');

    // Without --id, a fresh UUID.
    const fresh = await runCli(['send', file], env);
    expect(fresh.code, fresh.stderr).toBe(0);
    expect(fresh.stdout.trim()).toMatch(/^202 \{"id":"[0-9a-f-]{36}","status":"accepted"\}$/);

    const response = await fetch(`${service.url}/admin/events?limit=10`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    const { events } = (await response.json()) as { events: Array<{ id: string; type: string; source: string }> };
    expect(events.find((e) => e.id === 'manual-1')).toMatchObject({ type: 'og.membership.created', source: 'og' });
    expect(events).toHaveLength(2);
    const group = await fetch(`${service.url}/admin/groups/77`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(((await group.json()) as { members: Array<{ uid: number }> }).members.map((m) => m.uid)).toEqual([7]);
  });

  it('prints the refusal and exits non-zero when the service refuses the event', async () => {
    const service = await start(testEnv({ DATABASE_URL: `sqlite:${dbPath}`, LOG_LEVEL: 'warn' }));
    const file = join(dir.path, 'event.json');
    writeFileSync(file, JSON.stringify(membership(7)));
    const wrongSecret = await runCli(['send', file], { WEBHOOK_SECRETS: 'not-the-service-secret', PORT: String(service.port) });
    expect(wrongSecret.code).not.toBe(0);
    expect(wrongSecret.stdout).toMatch(/^401 /);

    writeFileSync(file, JSON.stringify({ type: 'og.membership.created', data: {} }));
    const invalid = await runCli(['send', file], { WEBHOOK_SECRETS: SECRET, PORT: String(service.port) });
    expect(invalid.code).not.toBe(0);
    expect(invalid.stdout).toMatch(/^400 /);
  });

  it('without a file prints usage and exits non-zero; without WEBHOOK_SECRETS one line naming it', async () => {
    const noFile = await runCli(['send'], { WEBHOOK_SECRETS: SECRET });
    expect(noFile.code).not.toBe(0);
    expect(noFile.stderr).toMatch(/send needs a file/);

    const file = join(dir.path, 'event.json');
    writeFileSync(file, JSON.stringify(membership(7)));
    expectOneLineNaming(await runCli(['send', file], {}), 'WEBHOOK_SECRETS');
  });
});

describe('the built package', () => {
  it('npm run build makes `npx og-civicrm-sync` and `node dist/cli.js` work', { timeout: 120_000 }, () => {
    const run = (command: string, args: string[]) =>
      execFileSync(command, args, { cwd: REPO_ROOT, encoding: 'utf8', env: { ...process.env, npm_config_yes: 'false' } });
    run('npm', ['run', 'build']);
    expect(run('npx', ['--no-install', 'og-civicrm-sync', 'help'])).toMatch(/^og-civicrm-sync \d+\.\d+\.\d+: /);
    expect(run(process.execPath, ['dist/cli.js', 'help'])).toMatch(/backfill <file>/);
  });
});
