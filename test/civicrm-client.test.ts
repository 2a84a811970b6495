import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CiviClient, CiviError, type CiviClientOptions } from '../src/civicrm/client.js';
import { startEmulator } from './civicrm-emulator/index.js';

// Made the way CiviCRM's docs suggest (base64), so they hold `+`, `/` and `=`.
const API_KEY = 'k3y+Api/0123456789abcdef+/w==';
const SITE_KEY = 's1te/Key+fedcba9876543210/+Q=';

/** Every way a key comes back when a server quotes the request: form-encoded, HTML- and JSON-escaped. */
function spellings(secret: string): string[] {
  const percent = encodeURIComponent(secret);
  const html = [...secret].map((c) => (/[\w-]/.test(c) ? c : `&#${c.codePointAt(0)};`)).join('');
  return [secret, percent, percent.replace(/%[0-9A-F]{2}/g, (h) => h.toLowerCase()), encodeURIComponent(percent), html,
    JSON.stringify(secret).slice(1, -1).replaceAll('/', '\\/'), secret.replaceAll('+', '\\u002B')];
}

/** What the fake CiviCRM saw of one request. */
interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  /** Form fields in the order sent. */
  fields: string[];
  form: Record<string, string>;
  json: Record<string, unknown>;
  /** The form body as sent. */
  raw: string;
}

/** `hang`: no answer at all; `stall`: headers and half a body, then nothing. */
type Reply = { status?: number; type?: string; body: unknown } | 'reset' | 'hang' | 'stall';

/**
 * A few lines of CiviCRM: records each request and answers through `reply`. The default
 * answers single calls through `api` and the api3 multi-call slot by slot, as
 * CRM_Utils_REST::processMultiple does.
 */
class FakeCivi {
  readonly seen: Seen[] = [];
  reply: (req: Seen) => Reply = (req) => ({ body: this.dispatch(req) });
  api: (entity: string, action: string, params: Record<string, unknown>) => unknown = () => ok([]);
  readonly #server: Server;

  constructor() {
    this.#server = createServer((req, res) => {
      let raw = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (raw += chunk));
      req.on('end', () => {
        const params = new URLSearchParams(raw);
        const form = Object.fromEntries(params);
        const seen: Seen = {
          method: req.method ?? '',
          url: req.url ?? '',
          headers: req.headers,
          fields: [...params.keys()],
          form,
          json: form.json === undefined ? {} : (JSON.parse(form.json) as Record<string, unknown>),
          raw,
        };
        this.seen.push(seen);
        const reply = this.reply(seen);
        if (reply === 'reset') return req.socket.destroy();
        if (reply === 'hang') return;
        if (reply === 'stall') {
          res.writeHead(200, { 'content-type': 'application/json' });
          return void res.write('{"is_error":0,');
        }
        const body = typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body);
        res.writeHead(reply.status ?? 200, { 'content-type': reply.type ?? 'application/json' });
        res.end(body);
      });
    });
  }

  dispatch(req: Seen): unknown {
    if (req.form.entity !== 'api3') return this.api(req.form.entity ?? '', req.form.action ?? '', req.json);
    const out: Record<string, unknown> = {};
    for (const [key, call] of Object.entries(req.json)) {
      const [entity, action, params] = call as [string, string, Record<string, unknown>];
      out[key] = this.api(entity, action, params);
    }
    return out;
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise((resolve) => this.#server.close(resolve));
  }
}

function ok(values: unknown[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    is_error: 0,
    version: 3,
    count: values.length,
    ...(values.length === 1 ? { id: Number((values[0] as { id?: string }).id) } : {}),
    values,
    ...extra,
  };
}

function fail(message: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { is_error: 1, error_message: message, ...extra };
}

/** Rejection of `promise` as a CiviError, failing the test otherwise. */
async function civiError(promise: Promise<unknown>): Promise<CiviError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CiviError);
  const civi = err as CiviError;
  for (const spelling of [...spellings(API_KEY), ...spellings(SITE_KEY)]) {
    expect(civi.message).not.toContain(spelling);
    expect(civi.code ?? '').not.toContain(spelling);
  }
  return civi;
}

let civi: FakeCivi;
let origin: string;
const clients: CiviClient[] = [];

function client(path: string, opts: Partial<CiviClientOptions> = {}): CiviClient {
  const c = new CiviClient({ url: origin + path, apiKey: API_KEY, siteKey: SITE_KEY, auth: 'legacy', ...opts });
  clients.push(c);
  return c;
}

const AJAX = '/civicrm/ajax/rest';
const EXTERN = '/sites/all/modules/civicrm/extern/rest.php';

beforeEach(async () => {
  civi = new FakeCivi();
  origin = await civi.start();
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await civi.stop();
});

describe('what goes on the wire', () => {
  const params = {
    title: 'Chess Club',
    group_type: [2],
    options: { limit: 0 },
    'api.GroupContact.create': { contact_id: [3, 4] },
  };

  it('legacy auth: key and api_key form fields, X-Requested-With, everything else inside json', async () => {
    civi.api = () => ok([{ id: '7', title: 'Chess Club' }]);
    await client(AJAX).call('Group', 'create', params);

    const [req] = civi.seen;
    expect(req?.method).toBe('POST');
    expect(req?.url).toBe(AJAX);
    expect(req?.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(req?.headers['x-requested-with']).toBe('XMLHttpRequest');
    expect(req?.headers['x-civi-auth']).toBeUndefined();
    expect(req?.headers['x-civi-key']).toBeUndefined();
    expect(req?.fields).toEqual(['entity', 'action', 'json', 'key', 'api_key']);
    expect(req?.form).toMatchObject({ entity: 'Group', action: 'create', key: SITE_KEY, api_key: API_KEY });
    expect(req?.json).toEqual({ ...params, sequential: 1 });
  });

  it('authx: X-Civi-Auth and X-Civi-Key headers, no key fields, on a legacy extern/rest.php URL', async () => {
    civi.api = () => ok([]);
    await client(EXTERN, { auth: 'authx' }).call('Group', 'get', params);

    const [req] = civi.seen;
    expect(req?.method).toBe('POST');
    expect(req?.url).toBe(EXTERN);
    expect(req?.headers['x-civi-auth']).toBe(`Bearer ${API_KEY}`);
    expect(req?.headers['x-civi-key']).toBe(SITE_KEY);
    expect(req?.headers['x-requested-with']).toBe('XMLHttpRequest');
    expect(req?.fields).toEqual(['entity', 'action', 'json']);
    expect(req?.json).toEqual({ ...params, sequential: 1 });
  });

  it('keeps the query string of a non-clean-URL endpoint and posts gets too', async () => {
    civi.api = () => ok([]);
    await client('/index.php?q=civicrm/ajax/rest').call('Contact', 'get', { email: 'a@example.org' });
    expect(civi.seen[0]?.url).toBe('/index.php?q=civicrm/ajax/rest');
    expect(civi.seen[0]?.method).toBe('POST');
  });
});

describe('results', () => {
  it('returns values as sent, with id and count as numbers', async () => {
    civi.api = () => ({ is_error: 0, version: 3, count: '1', id: '12', values: [{ id: '12', is_active: '1' }] });
    const result = await client(AJAX).call('Group', 'get', { name: 'x' });
    expect(result).toEqual({ count: 1, id: 12, values: [{ id: '12', is_active: '1' }] });
  });

  it('keeps other top-level fields (GroupContact.create counts) in extra', async () => {
    civi.api = () => ({ is_error: 0, version: 3, count: 1, values: 1, total_count: 1, added: 1, not_added: 0 });
    const result = await client(AJAX).call('GroupContact', 'create', { group_id: 1, contact_id: 2 });
    expect(result).toEqual({ count: 1, values: [], extra: { total_count: 1, added: 1, not_added: 0 } });
  });

  it('wraps getsingle records and reads getcount results', async () => {
    civi.api = (_entity, action) =>
      action === 'getsingle' ? { is_error: 0, id: '5', title: 'A' } : { is_error: 0, result: 42 };
    const c = client(AJAX);
    expect(await c.call('Group', 'getsingle', { id: 5 })).toEqual({ count: 1, id: 5, values: [{ id: '5', title: 'A' }] });
    expect((await c.call('Group', 'getcount')).count).toBe(42);
  });
});

describe('getAll', () => {
  const rows = Array.from({ length: 60 }, (_, i) => ({ id: String(i + 1), title: `Group ${i + 1}` }));

  beforeEach(() => {
    // CiviCRM's paging: 25 rows unless options say otherwise.
    civi.api = (_entity, _action, params) => {
      const options = (params.options ?? {}) as { limit?: number; offset?: number };
      const offset = options.offset ?? 0;
      const limit = options.limit ?? 25;
      return ok(rows.slice(offset, limit === 0 ? undefined : offset + limit));
    };
  });

  it('pages past 25 rows with limit/offset sorted by id inside json', async () => {
    const all = await client(AJAX).getAll('Group', { is_active: 1, options: { limit: 3, sort: 'title' } }, 25);
    expect(all).toEqual(rows);
    expect(civi.seen.map((r) => r.json)).toEqual([0, 25, 50].map((offset) => ({
      is_active: 1,
      sequential: 1,
      options: { sort: 'id ASC', limit: 25, offset },
    })));
    expect(civi.seen.every((r) => r.fields.join() === 'entity,action,json,key,api_key')).toBe(true);
  });

  it('asks one page more when the last page is exactly full', async () => {
    expect(await client(AJAX).getAll('Group', {}, 30)).toHaveLength(60);
    expect(civi.seen).toHaveLength(3);
  });

  it('needs one request with the default page size', async () => {
    expect(await client(AJAX).getAll('Group')).toHaveLength(60);
    expect(civi.seen).toHaveLength(1);
  });
});

describe('failures', () => {
  it('HTTP 5xx is retryable', async () => {
    civi.reply = () => ({ status: 500, body: fail('boom') });
    const err = await civiError(client(AJAX).call('Group', 'create', { title: 'x' }));
    expect(err).toMatchObject({ retryable: true, kind: 'transport', entity: 'Group', action: 'create' });
    expect(err.message).toContain('HTTP 500');
  });

  it('an HTML page is retryable, with 200 or 502', async () => {
    const html = '<!DOCTYPE html><html><head><title>Site under maintenance</title></head></html>';
    civi.reply = () => ({ status: 200, type: 'text/html', body: html });
    const err = await civiError(client(AJAX).call('Group', 'get'));
    expect(err).toMatchObject({ retryable: true, kind: 'transport' });
    expect(err.message).toContain('Site under maintenance');

    civi.reply = () => ({ status: 502, type: 'text/html', body: html });
    expect(await civiError(client(AJAX).call('Group', 'get'))).toMatchObject({ retryable: true });
  });

  it('a reset connection is retryable and a write is never sent twice', async () => {
    civi.reply = () => 'reset';
    const err = await civiError(client(AJAX).call('Group', 'create', { title: 'x' }));
    expect(err).toMatchObject({ retryable: true, kind: 'transport' });
    expect(civi.seen).toHaveLength(1);
  });

  it('a read that lost its socket is sent once more', async () => {
    let n = 0;
    civi.reply = (req) => (n++ === 0 ? 'reset' : { body: civi.dispatch(req) });
    civi.api = () => ok([{ id: '1' }]);
    expect((await client(AJAX).call('Group', 'get')).count).toBe(1);
    expect(civi.seen).toHaveLength(2);

    civi.reply = () => 'reset';
    civi.seen.length = 0;
    expect(await civiError(client(AJAX).call('Group', 'get'))).toMatchObject({ retryable: true });
    expect(civi.seen).toHaveLength(2);
  });

  it('a get with chained calls is not repeated (they may write)', async () => {
    civi.reply = () => 'reset';
    await civiError(client(AJAX).call('Group', 'get', { 'api.GroupContact.create': { contact_id: 1 } }));
    expect(civi.seen).toHaveLength(1);
  });

  it('a timeout is retryable, waiting for headers or for the body', async () => {
    civi.reply = () => 'hang';
    const err = await civiError(client(AJAX, { timeoutMs: 150 }).call('Group', 'get'));
    expect(err).toMatchObject({ retryable: true, kind: 'transport' });
    expect(err.message).toContain('timed out after 150 ms');

    civi.reply = () => 'stall';
    const stalled = await civiError(client(AJAX, { timeoutMs: 150 }).call('Group', 'create', { title: 'x' }));
    expect(stalled).toMatchObject({ retryable: true, kind: 'transport' });
    expect(stalled.message).toContain('timed out after 150 ms');
  });

  it('is_error is not retryable and keeps message and code', async () => {
    civi.api = () => fail('Found matching contacts: 1,2', { error_code: 'duplicate' });
    const err = await civiError(client(AJAX).call('Contact', 'create', { dupe_check: 1 }));
    expect(err).toMatchObject({ retryable: false, kind: 'api', code: 'duplicate', entity: 'Contact', action: 'create' });
    expect(err.message).toContain('Found matching contacts: 1,2');
  });

  it('a MySQL deadlock is retryable', async () => {
    civi.api = () =>
      fail('DB Error: unknown error', {
        error_code: 'unknown error',
        sql: 'INSERT … [nativecode=1213 ** Deadlock found when trying to get lock; try restarting transaction]',
      });
    const err = await civiError(client(AJAX).call('GroupContact', 'create', { group_id: 1, contact_id: 2 }));
    expect(err).toMatchObject({ retryable: true, kind: 'api', code: 'unknown error' });
  });

  it('a legacy key failure (HTTP 200 FATAL) is an authentication error, not retryable', async () => {
    civi.api = () => fail("FATAL: 'key' is incorrect. More info at: https://docs.civicrm.org/");
    const err = await civiError(client(EXTERN).call('Group', 'get'));
    expect(err).toMatchObject({ retryable: false, kind: 'auth' });
    expect(err.message).toMatch(/authentication/);

    // authx's LegacyRestAuthenticator on civicrm/ajax/rest
    civi.api = () => fail('FATAL: Invalid credential');
    expect(await civiError(client(AJAX).call('Group', 'get'))).toMatchObject({ retryable: false, kind: 'auth' });
  });

  it('authx HTTP 401 names authentication and is not retryable', async () => {
    civi.reply = () => ({ status: 401, type: 'text/plain', body: 'HTTP 401 Invalid credential' });
    const err = await civiError(client(AJAX, { auth: 'authx' }).call('Group', 'get'));
    expect(err).toMatchObject({ retryable: false, kind: 'auth' });
    expect(err.message).toMatch(/authentication/);
    expect(err.message).toContain('HTTP 401');
  });

  it('a wrong URL (404) is not retryable', async () => {
    civi.reply = () => ({ status: 404, type: 'text/html', body: '<h1>Page not found</h1>' });
    expect(await civiError(client(AJAX).call('Group', 'get'))).toMatchObject({ retryable: false, kind: 'transport' });
  });

  it('never puts keys in messages, even when the server echoes them', async () => {
    const echo = `api_key=${API_KEY} key=${SITE_KEY}`;
    const c = client(AJAX);
    civi.api = () => fail(`Invalid ${echo}`, { error_code: API_KEY });
    expect((await civiError(c.call('Group', 'get'))).code).toBe('[redacted]');
    civi.reply = () => ({ status: 500, type: 'text/html', body: `<pre>${echo}</pre>` });
    await civiError(c.call('Group', 'get'));
    civi.reply = () => ({ status: 401, type: 'text/plain', body: echo });
    await civiError(c.call('Group', 'get'));
    civi.reply = () => ({ status: 200, type: 'text/html', body: echo });
    await civiError(c.call('Group', 'get'));
  });

  it('never puts keys in messages in any encoding the echo comes back in', async () => {
    const c = client(AJAX);
    // A proxy's error page quoting the form body as sent: the keys percent-encoded.
    civi.reply = (req) => ({ status: 502, type: 'text/html', body: `<html><title>502 Bad Gateway</title><pre>${req.raw}</pre></html>` });
    const proxy = await civiError(c.call('Group', 'create', { title: 'Chess' }));
    expect(proxy.message).toMatch(/^CiviCRM Group\.create: HTTP 502: 502 Bad Gateway entity=Group&action=create&json=.*\[redacted\]/);
    for (const [i, spelling] of [...spellings(API_KEY), ...spellings(SITE_KEY)].entries()) {
      civi.reply = () => ({ status: 502, type: 'text/plain', body: `upstream said: ${spelling} (${i})` });
      expect((await civiError(c.call('Group', 'get'))).message).toBe(`CiviCRM Group.get: HTTP 502: upstream said: [redacted] (${i})`);
      civi.reply = () => ({ body: fail(`Invalid parameter: ${spelling}`, { error_code: spelling }) });
      const api = await civiError(c.call('Group', 'get'));
      expect(api.message).toBe('CiviCRM Group.get: Invalid parameter: [redacted]');
      expect(api.code).toBe('[redacted]');
    }
  });

  it('keeps a bounded excerpt of a long error page and a bounded API message', async () => {
    const c = client(AJAX);
    civi.reply = () => ({ status: 503, type: 'text/html', body: `<h1>Down</h1>${'<p>maintenance</p>'.repeat(50_000)}` });
    expect((await civiError(c.call('Group', 'get'))).message.length).toBeLessThan(300);
    civi.reply = () => ({ body: fail('x'.repeat(100_000)) });
    expect((await civiError(c.call('Group', 'get'))).message.length).toBeLessThan(1_100);
  });

  it('counts outcomes for metrics', async () => {
    const seen: string[] = [];
    const c = client(AJAX, { onCall: (entity, action, outcome) => seen.push(`${entity}.${action}:${outcome}`) });
    civi.api = (_entity, action) => (action === 'get' ? ok([]) : fail('nope'));
    await c.call('Group', 'get');
    await c.call('Group', 'create').catch(() => undefined);
    civi.reply = () => ({ status: 503, body: 'busy' });
    await c.call('Group', 'get').catch(() => undefined);
    expect(seen).toEqual(['Group.get:ok', 'Group.create:error', 'Group.get:retryable']);
  });

  it('times each HTTP request once, a multi-call as one and a refused connection too', async () => {
    const timings: number[] = [];
    const c = client(AJAX, { onRequest: (seconds) => timings.push(seconds) });
    civi.api = () => ok([]);
    await c.call('Group', 'get');
    await c.batch([['Group', 'get', {}], ['Contact', 'get', {}]]);
    const closed = new CiviClient({ url: 'http://127.0.0.1:1/civicrm/ajax/rest', apiKey: API_KEY, siteKey: SITE_KEY, auth: 'legacy', onRequest: (s) => timings.push(s) });
    clients.push(closed);
    await closed.call('Group', 'create').catch(() => undefined);
    expect(timings).toHaveLength(3);
    for (const seconds of timings) expect(seconds).toBeGreaterThanOrEqual(0);
  });
});

describe('batch', () => {
  it('sends one api3.call request and fills each slot with a result or an error', async () => {
    civi.api = (entity, action) =>
      entity === 'Group' ? ok([{ id: '9', name: 'g9' }]) : fail(`${entity}.${action} refused`, { error_code: 'x' });
    const results = await client(AJAX).batch([
      ['Group', 'get', { name: 'g9' }],
      ['UFMatch', 'create', { uf_id: 1, contact_id: 2, uf_name: 'a@example.org' }],
    ]);

    expect(civi.seen).toHaveLength(1);
    const [req] = civi.seen;
    expect(req?.fields).toEqual(['entity', 'action', 'json', 'key', 'api_key']);
    expect(req?.form).toMatchObject({ entity: 'api3', action: 'call' });
    expect(req?.json).toEqual({
      c0: ['Group', 'get', { name: 'g9', sequential: 1 }],
      c1: ['UFMatch', 'create', { uf_id: 1, contact_id: 2, uf_name: 'a@example.org', sequential: 1 }],
    });
    expect(results[0]).toEqual({ count: 1, id: 9, values: [{ id: '9', name: 'g9' }] });
    expect(results[1]).toBeInstanceOf(CiviError);
    expect(results[1]).toMatchObject({ retryable: false, code: 'x', entity: 'UFMatch', action: 'create' });
  });

  it('rejects as a whole on transport failure, retryable', async () => {
    civi.reply = () => ({ status: 503, type: 'text/html', body: '<h1>Service Unavailable</h1>' });
    const err = await civiError(client(AJAX).batch([['Group', 'create', { title: 'a' }]]));
    expect(err).toMatchObject({ retryable: true, entity: 'api3', action: 'call' });
  });

  it('rejects as a whole when the request itself is refused', async () => {
    civi.reply = () => ({ body: fail('FATAL: mandatory param \'api_key\' (user key) missing') });
    const err = await civiError(client(AJAX).batch([['Group', 'get', {}]]));
    expect(err).toMatchObject({ retryable: false, kind: 'auth' });
  });

  it('sends nothing for no calls', async () => {
    expect(await client(AJAX).batch([])).toEqual([]);
    expect(civi.seen).toHaveLength(0);
  });

  it('sends the calls one by one where the endpoint has no multi-call (extern/rest.php)', async () => {
    civi.api = (entity) => (entity === 'Group' ? ok([{ id: '1' }]) : fail('no'));
    const results = await client(EXTERN).batch([
      ['Group', 'create', { title: 'a' }],
      ['Acl', 'create', { name: 'b' }],
    ]);
    expect(civi.seen.map((r) => `${r.form.entity}.${r.form.action}`)).toEqual(['Group.create', 'Acl.create']);
    expect(results[0]).toMatchObject({ id: 1 });
    expect(results[1]).toBeInstanceOf(CiviError);
  });
});

describe('version', () => {
  it('asks System.get once until forgotten, and does not cache a failure', async () => {
    let version = '5.69.0';
    civi.api = () => ok([{ version, uf: 'Drupal8' }]);
    const c = client(AJAX);
    expect(await c.version()).toBe('5.69.0');
    version = '5.75.1';
    expect(await c.version()).toBe('5.69.0');
    expect(civi.seen.map((r) => `${r.form.entity}.${r.form.action}`)).toEqual(['System.get']);
    c.forgetVersion();
    expect(await c.version()).toBe('5.75.1');

    c.forgetVersion();
    civi.reply = () => ({ status: 500, body: '' });
    await civiError(c.version());
    civi.reply = (req) => ({ body: civi.dispatch(req) });
    expect(await c.version()).toBe('5.75.1');
  });
});

describe('against the CiviCRM emulator', () => {
  it('speaks to both endpoints in both auth modes', async () => {
    const emu = await startEmulator();
    const keys = { apiKey: emu.apiKey, siteKey: emu.siteKey };
    const authx = new CiviClient({ url: emu.restUrl, auth: 'authx', ...keys });
    const legacy = new CiviClient({ url: emu.legacyUrl, auth: 'legacy', ...keys });
    try {
      for (let i = 1; i <= 30; i++) emu.db.addGroup({ title: `Smoke ${i}`, name: `smoke_${i}`, source: 'smoke' });

      expect(await authx.version()).toBe(emu.version);
      const created = await authx.call('Group', 'create', { title: 'Chess Club', name: 'chess_club', source: 'smoke' });
      expect(created.id).toBe(emu.db.groupByName('chess_club')?.id);
      expect(await legacy.getAll('Group', { source: 'smoke' }, 10)).toHaveLength(31);

      emu.resetLog();
      const [found, clash] = await authx.batch([
        ['Group', 'get', { name: 'chess_club' }],
        ['Group', 'create', { title: 'chess club', name: 'other_name' }],
      ]);
      expect(emu.requests).toBe(1);
      expect(found).toMatchObject({ count: 1, id: created.id });
      expect(clash).toBeInstanceOf(CiviError);
      expect(clash).toMatchObject({ retryable: false, kind: 'api' });

      emu.faults.failNext(1, 'is_error');
      expect(await civiError(legacy.call('Group', 'create', { title: 'x' }))).toMatchObject({ retryable: true });
      emu.faults.failNext(1, 'html');
      expect(await civiError(authx.call('Group', 'create', { title: 'x' }))).toMatchObject({ retryable: true });

      const stranger = new CiviClient({ url: emu.restUrl, auth: 'authx', apiKey: 'wrong', siteKey: emu.siteKey });
      clients.push(stranger);
      expect(await civiError(stranger.call('Group', 'get'))).toMatchObject({ retryable: false, kind: 'auth' });
    } finally {
      await Promise.all([authx.close(), legacy.close()]);
      await emu.close();
    }
  });
});
