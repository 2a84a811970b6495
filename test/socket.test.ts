// The service as deployed: `node --import tsx src/main.ts` in a child process, answering over
// a real socket on 127.0.0.1.
import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, PLAIN_SECRET, nativeBody, signedDrupal, signedNative, tempDir, testEnv, uniqueId } from './support/app.js';
import { startService, type Service } from './support/process.js';

let service: Service;
let dir: ReturnType<typeof tempDir>;

beforeAll(async () => {
  dir = tempDir();
  service = await startService(testEnv({ DATABASE_URL: `sqlite:${join(dir.path, 'store.sqlite')}`, LOG_LEVEL: 'warn' }));
});

afterAll(async () => {
  await service?.child.stop();
  dir?.remove();
});

const membership = (uid = 7) =>
  nativeBody('og.membership.created', { group_id: 42, user: { id: uid, email: `u${uid}@example.org` }, state: 'active', is_admin: false });

async function post(path: string, headers: Record<string, string>, body: string | Buffer) {
  const response = await fetch(`${service.url}${path}`, { method: 'POST', headers, body: typeof body === 'string' ? body : new Uint8Array(body) });
  const text = await response.text();
  return { status: response.status, type: response.headers.get('content-type') ?? '', headers: response.headers, text };
}

async function adminEvents(): Promise<string[]> {
  const response = await fetch(`${service.url}/admin/events?limit=1000`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  expect(response.status).toBe(200);
  return ((await response.json()) as { events: Array<{ id: string }> }).events.map((e) => e.id);
}

function expectProblem(answer: { status: number; type: string; text: string }, status: number) {
  expect(answer.status).toBe(status);
  expect(answer.type).toMatch(/^application\/problem\+json\b/);
  const problem = JSON.parse(answer.text) as Record<string, unknown>;
  expect(problem).toMatchObject({ status, type: expect.any(String), title: expect.any(String), detail: expect.any(String) });
  return problem;
}

describe('POST /webhooks/og over a socket', () => {
  it('answers 202 accepted, then 202 duplicate for the same webhook-id', async () => {
    const { id, payload, headers } = signedNative(membership());
    const first = await post('/webhooks/og', headers, payload);
    expect(first.status).toBe(202);
    expect(first.type).toMatch(/^application\/json\b/);
    expect(JSON.parse(first.text)).toEqual({ id, status: 'accepted' });

    // A redelivery is signed again (a new timestamp) but carries the same id.
    const again = signedNative(membership(), { id });
    const second = await post('/webhooks/og', again.headers, again.payload);
    expect(second.status).toBe(202);
    expect(JSON.parse(second.text)).toEqual({ id, status: 'duplicate' });
    expect((await adminEvents()).filter((e) => e === id)).toHaveLength(1);
  });

  for (const type of ['application/json; charset=utf-8', 'application/cloudevents+json', 'application/cloudevents+json; charset=utf-8']) {
    it(`takes the media type ${type}`, async () => {
      const { id, payload, headers } = signedNative(membership(8));
      const answer = await post('/webhooks/og', { ...headers, 'content-type': type }, payload);
      expect(answer.status).toBe(202);
      expect(JSON.parse(answer.text)).toEqual({ id, status: 'accepted' });
    });
  }

  it('answers 401 for a missing, bad, stale or future signature, and stores nothing', async () => {
    const body = signedNative(membership(9));
    const { 'webhook-signature': _omit, ...unsigned } = body.headers;
    const missing = expectProblem(await post('/webhooks/og', unsigned, body.payload), 401);
    expect(missing.detail).toMatch(/webhook-signature/);

    const wrongKey = signedNative(membership(9), { secret: 'whsec_' + Buffer.from('another secret entirely').toString('base64') });
    expectProblem(await post('/webhooks/og', wrongKey.headers, wrongKey.payload), 401);

    // A body changed after signing.
    const tampered = signedNative(membership(9));
    expectProblem(await post('/webhooks/og', tampered.headers, tampered.payload.replace('"id":9', '"id":10')), 401);

    const now = Math.floor(Date.now() / 1000);
    const stale = signedNative(membership(9), { at: now - 6 * 60 });
    expectProblem(await post('/webhooks/og', stale.headers, stale.payload), 401);
    const future = signedNative(membership(9), { at: now + 6 * 60 });
    expectProblem(await post('/webhooks/og', future.headers, future.payload), 401);

    const stored = await adminEvents();
    for (const id of [body.id, wrongKey.id, tampered.id, stale.id, future.id]) expect(stored).not.toContain(id);
  });

  it('answers 413 for a body over 1 MiB, as problem+json', async () => {
    const big = JSON.stringify({ ...membership(), padding: 'x'.repeat(1024 * 1024) });
    const { headers, id } = signedNative(big);
    expectProblem(await post('/webhooks/og', headers, big), 413);
    expect(await adminEvents()).not.toContain(id);
  });

  it('answers 413 for a chunked body over 1 MiB (no Content-Length)', async () => {
    const big = Buffer.from(JSON.stringify({ ...membership(), padding: 'x'.repeat(1024 * 1024 + 10) }));
    const { headers } = signedNative(big.toString());
    const answer = await new Promise<{ status: number; type: string; text: string }>((resolve, reject) => {
      const req = request(`${service.url}/webhooks/og`, { method: 'POST', headers: { ...headers, 'transfer-encoding': 'chunked' } }, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), text }));
      });
      // The server may stop reading once it has answered; that is not the test's failure.
      req.on('error', (error) => (req.headersSent ? undefined : reject(error)));
      for (let offset = 0; offset < big.length; offset += 64 * 1024) req.write(big.subarray(offset, offset + 64 * 1024));
      req.end();
    });
    expectProblem(answer, 413);
  });

  it('answers 415 for a body that is not JSON', async () => {
    const { payload, headers, id } = signedNative(membership());
    expectProblem(await post('/webhooks/og', { ...headers, 'content-type': 'text/plain' }, payload), 415);
    expectProblem(await post('/webhooks/og', { ...headers, 'content-type': 'application/x-www-form-urlencoded' }, 'a=1'), 415);
    expect(await adminEvents()).not.toContain(id);
  });

  it('answers 400 for invalid JSON and for an event that does not match its schema', async () => {
    const broken = signedNative('{"type": "og.membership.created", ');
    expectProblem(await post('/webhooks/og', broken.headers, broken.payload), 400);

    const badState = signedNative(
      nativeBody('og.membership.created', { group_id: 42, user: { id: 7 }, state: 'member', is_admin: false }),
    );
    const problem = expectProblem(await post('/webhooks/og', badState.headers, badState.payload), 400);
    expect(problem.detail).toMatch(/state/);

    const unknownType = signedNative(nativeBody('og.group.exploded', { group: { id: 42 } }));
    expectProblem(await post('/webhooks/og', unknownType.headers, unknownType.payload), 400);

    const negativeId = signedNative(nativeBody('og.group.deleted', { group: { id: -3 } }));
    expectProblem(await post('/webhooks/og', negativeId.headers, negativeId.payload), 400);

    const stored = await adminEvents();
    for (const id of [broken.id, badState.id, unknownType.id, negativeId.id]) expect(stored).not.toContain(id);
  });

  it('answers 400 for an empty body', async () => {
    const empty = signedNative('');
    expectProblem(await post('/webhooks/og', empty.headers, ''), 400);
  });
});

describe('POST /webhooks/drupal over a socket', () => {
  const groupNode = {
    event: 'entity:node:create',
    entity: { nid: [{ value: 501 }], type: [{ target_id: 'group' }], title: [{ value: 'Socket Club' }], uid: [{ target_id: 7 }] },
  };

  it('answers 202 accepted, then duplicate for the same delivery', async () => {
    const { delivery, payload, headers } = signedDrupal('entity:node:create', groupNode);
    const first = await post('/webhooks/drupal', headers, payload);
    expect(first.status).toBe(202);
    expect(JSON.parse(first.text)).toEqual({ id: delivery, status: 'accepted' });
    const second = await post('/webhooks/drupal', headers, payload);
    expect(JSON.parse(second.text)).toEqual({ id: delivery, status: 'duplicate' });
  });

  it('answers 202 ignored for a node that is not a group, and stores nothing', async () => {
    const article = { ...groupNode, entity: { ...groupNode.entity, type: [{ target_id: 'article' }] } };
    const { delivery, payload, headers } = signedDrupal('entity:node:create', article);
    const answer = await post('/webhooks/drupal', headers, payload);
    expect(answer.status).toBe(202);
    expect(JSON.parse(answer.text)).toEqual({ id: delivery, status: 'ignored' });
    expect(await adminEvents()).not.toContain(delivery);
  });

  it('answers 401 for a bad X-Hub-Signature-256', async () => {
    const { payload, headers } = signedDrupal('entity:node:create', groupNode, { secret: `${PLAIN_SECRET}-not` });
    expectProblem(await post('/webhooks/drupal', headers, payload), 401);
    const { 'x-hub-signature-256': _omit, ...unsigned } = headers;
    expectProblem(await post('/webhooks/drupal', unsigned, payload), 401);
  });
});

describe('other routes over a socket', () => {
  it('answers 404 problem+json for an unknown route', async () => {
    const response = await fetch(`${service.url}/nowhere`);
    expect(response.status).toBe(404);
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json\b/);
  });

  it('answers /healthz and /readyz', async () => {
    expect((await fetch(`${service.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${service.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'ready', store: 'writable' });
  });

  it('answers 401 problem+json on /admin without the token', async () => {
    const response = await fetch(`${service.url}/admin/status`, { headers: { authorization: `Bearer ${uniqueId()}` } });
    expect(response.status).toBe(401);
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json\b/);
  });
});
