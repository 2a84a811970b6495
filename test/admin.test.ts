// The operator API (/admin/*) and the routes a platform polls (/healthz, /readyz, /metrics, /openapi.yaml).
import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SyncControl } from '../src/http/admin.js';
import { VERSION } from '../src/version.js';
import { ADMIN_TOKEN, asHolder, CIVI, drupalFixture, testApp, testConfig, type TestApp } from './support/app.js';
import { INVALID_EVENTS, sampleBody, type EventTypeName } from './support/events.js';
import {
  adminRequest,
  expectAnswer,
  expectNothingStored,
  expectProblem,
  postDrupal,
  postNative,
  type Response,
} from './support/http.js';

let app: TestApp;
beforeEach(async () => {
  app = await testApp();
});
afterEach(async () => {
  await app.close();
});

async function replaceApp(options: Parameters<typeof testApp>[0]): Promise<void> {
  await app.close();
  app = await testApp(options);
}

/** The sync side as the operator API sees it, reporting the given CiviCRM state. */
function syncStub(overrides: Partial<SyncControl> = {}): SyncControl {
  return {
    wake() {},
    civicrm: () => ({ reachable: null, lastContactAt: null, version: null, lastError: null }),
    reconcileGroup: async () => undefined,
    ...overrides,
  };
}

const ROUTES: Array<['GET' | 'POST', string]> = [
  ['GET', '/admin/status'],
  ['POST', '/admin/events'],
  ['GET', '/admin/events'],
  ['GET', '/admin/events?status=dead'],
  ['POST', '/admin/events/evt-1/replay'],
  ['GET', '/admin/groups/42'],
  ['POST', '/admin/groups/42/reconcile'],
  ['GET', '/admin/activity'],
];

/** POST /admin/events with a JSON body. */
const manual = (body: unknown, opts: { token?: string | null } = {}) =>
  adminRequest(app, 'POST', '/admin/events', { ...opts, payload: JSON.stringify(body), headers: { 'content-type': 'application/json' } });

const listEvents = async (query = ''): Promise<Array<Record<string, unknown>>> => {
  const res = await adminRequest(app, 'GET', `/admin/events${query}`);
  expect(res.statusCode, res.body).toBe(200);
  return (res.json() as { events: Array<Record<string, unknown>> }).events;
};

describe('without ADMIN_TOKEN', () => {
  it.each(['', '   '])('an ADMIN_TOKEN of %j counts as unset', (value) => {
    expect(testConfig({ ADMIN_TOKEN: value }).adminToken).toBeUndefined();
  });

  it.each(ROUTES)('%s %s answers 404, with or without a token', async (method, url) => {
    await replaceApp({ config: testConfig({ ADMIN_TOKEN: '' }) });
    const payload = method === 'POST' ? sampleBody('og.group.deleted') : undefined;
    expectProblem(await adminRequest(app, method, url, { payload, token: null }), 404);
    expectProblem(await adminRequest(app, method, url, { payload, token: ADMIN_TOKEN }), 404);
    expectProblem(await adminRequest(app, method, url, { payload, token: '' }), 404);
    await expectNothingStored(app);
  });

  it('health and metrics still answer', async () => {
    await replaceApp({ config: testConfig({ ADMIN_TOKEN: '' }) });
    expect((await app.fastify.inject({ url: '/healthz' })).statusCode).toBe(200);
    expect((await app.fastify.inject({ url: '/metrics' })).statusCode).toBe(200);
  });
});

describe('authorization', () => {
  const BAD: Array<[string, Record<string, string>]> = [
    ['no Authorization header', {}],
    ['a wrong token', { authorization: 'Bearer not-the-token' }],
    ['the token with a suffix', { authorization: `Bearer ${ADMIN_TOKEN}x` }],
    ['a prefix of the token', { authorization: `Bearer ${ADMIN_TOKEN.slice(0, -1)}` }],
    ['the token without a scheme', { authorization: ADMIN_TOKEN }],
    ['the token as Basic credentials', { authorization: `Basic ${Buffer.from(`admin:${ADMIN_TOKEN}`).toString('base64')}` }],
    ['Bearer without a token', { authorization: 'Bearer ' }],
  ];

  it.each(ROUTES.flatMap(([method, url]) => BAD.map(([name, headers]) => [method, url, name, headers] as const)))(
    '%s %s with %s answers 401',
    async (method, url, _name, headers) => {
      const payload = method === 'POST' ? JSON.stringify(sampleBody('og.group.deleted')) : undefined;
      const res = await app.fastify.inject({ method, url, headers: { ...headers, 'content-type': 'application/json' }, payload });
      expectProblem(res, 401);
      await expectNothingStored(app);
    },
  );

  it('the scheme is case-insensitive', async () => {
    const res = await adminRequest(app, 'GET', '/admin/status', { token: null, headers: { authorization: `bearer ${ADMIN_TOKEN}` } });
    expect(res.statusCode).toBe(200);
  });
});

describe('GET /admin/activity', () => {
  it('holds the last hour minute by minute: events this replica accepted, and the backlog when read', async () => {
    await postNative(app, sampleBody('og.group.deleted'), { id: 'evt-a1' });
    await postNative(app, sampleBody('og.group.deleted'), { id: 'evt-a1' });
    await postNative(app, sampleBody('og.group.deleted'), { id: 'evt-a2' });
    await adminRequest(app, 'GET', '/admin/status');
    const { minutes } = (await adminRequest(app, 'GET', '/admin/activity')).json() as { minutes: Array<{ at: string; accepted: number; backlog: number | null }> };
    expect(minutes).toHaveLength(60);
    // The events may straddle a minute's end; the duplicate counts in neither. Both delete one
    // group: one dirty item, read by GET /admin/status.
    expect(minutes.reduce((sum, m) => sum + m.accepted, 0)).toBe(2);
    expect(minutes.map((m) => m.backlog).filter((b) => b !== null)).toEqual([1]);
    expect(minutes[0]!.backlog).toBeNull();
  });
});

describe('GET /admin/status', () => {
  it('reports zero counts, the version and unknown CiviCRM reachability on a fresh store', async () => {
    const res = await adminRequest(app, 'GET', '/admin/status');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      version: VERSION,
      accepted: 0,
      pending: 0,
      retrying: 0,
      dead: 0,
      civicrm: { reachable: null },
      database: 'sqlite',
      startedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      uptimeSeconds: expect.any(Number),
    });
  });

  it('counts accepted, pending, retrying and dead events', async () => {
    await seedEvents();
    expect((await adminRequest(app, 'GET', '/admin/status')).json()).toMatchObject({
      accepted: 4,
      pending: 1,
      retrying: 1,
      dead: 1,
      done: 1,
    });
  });

  it("shows CiviCRM's reachability as the sync side reports it", async () => {
    const civicrm = { reachable: false, lastContactAt: '2026-11-24T10:00:00.000Z', version: '5.69.0', lastError: 'HTTP 502' };
    await replaceApp({ deps: { sync: syncStub({ civicrm: () => civicrm }) } });
    expect((await adminRequest(app, 'GET', '/admin/status')).json()).toMatchObject({ civicrm });
  });
});

describe('POST /admin/events', () => {
  it('stores a manual event without signature, id or timestamp, and makes an id', async () => {
    const body: Record<string, unknown> = { ...sampleBody('og.group.created') };
    delete body.timestamp;
    const { id } = expectAnswer(await manual(body), 'accepted');
    expect(id).toMatch(/\S/);
    const [event] = await app.store.listEvents({ limit: 10 });
    expect(event).toMatchObject({ id, source: 'og', type: 'og.group.created', status: 'pending' });
    // Without a timestamp the event is dated when it was received.
    expect(event!.occurred_at).toBe(event!.received_at);
    expect(await app.store.group(42)).toMatchObject({ title: 'Chess Club' });
  });

  it('makes a different id for each manual event', async () => {
    const first = expectAnswer(await manual(sampleBody('og.group.deleted')), 'accepted');
    const second = expectAnswer(await manual(sampleBody('og.group.deleted')), 'accepted');
    expect(first.id).not.toBe(second.id);
    expect(await app.store.listEvents({ limit: 10 })).toHaveLength(2);
  });

  it('uses the given id and timestamp', async () => {
    const body = { ...sampleBody('og.group.deleted', undefined, '2026-11-24T10:00:00Z'), id: 'manual-1' };
    expectAnswer(await manual(body), 'accepted', 'manual-1');
    expect(await app.store.listEvents({ limit: 10 })).toEqual([
      expect.objectContaining({ id: 'manual-1', occurred_at: '2026-11-24T10:00:00.000Z' }),
    ]);
  });

  it('answers duplicate for an id already accepted, from either route, and changes nothing', async () => {
    const created = { ...sampleBody('og.group.created'), id: 'manual-2' };
    expectAnswer(await manual(created), 'accepted', 'manual-2');
    const renamed = { ...sampleBody('og.group.updated', (d) => (d.group.title = 'Renamed')), id: 'manual-2' };
    expectAnswer(await manual(renamed), 'duplicate', 'manual-2');
    expectAnswer(await postNative(app, renamed, { id: 'manual-2' }), 'duplicate', 'manual-2');
    expect(await app.store.group(42)).toMatchObject({ title: 'Chess Club' });
    expect(await app.store.listEvents({ limit: 10 })).toHaveLength(1);
  });

  it.each(INVALID_EVENTS.map((c) => [c.name, c.body] as const))('answers 400 like /webhooks/og: %s', async (_name, body) => {
    expectProblem(await manual(body), 400);
    await expectNothingStored(app);
  });

  it.each([
    ['empty', ''],
    ['not a string', 42],
    ['longer than 255 characters', 'x'.repeat(256)],
  ])('refuses an id that is %s', async (_name, id) => {
    expectProblem(await manual({ ...sampleBody('og.group.deleted'), id }), 400, /id/);
    await expectNothingStored(app);
  });

  it('refuses a body that is not JSON', async () => {
    const res = await adminRequest(app, 'POST', '/admin/events', { payload: '{"type":', headers: { 'content-type': 'application/json' } });
    expectProblem(res, 400);
    await expectNothingStored(app);
  });

  it('refuses a body that is not valid UTF-8 with the answer /webhooks/og gives, and stores nothing', async () => {
    const json = JSON.stringify(sampleBody('og.group.created', (d) => (d.group.title = 'Chess TITLE')));
    const [before, after] = json.split('TITLE') as [string, string];
    const payload = Buffer.concat([Buffer.from(before), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from(after)]);
    const res = await adminRequest(app, 'POST', '/admin/events', { payload, headers: { 'content-type': 'application/json' } });
    const native = await postNative(app, payload);
    expectProblem(res, 400);
    expect(res.json()).toEqual(native.json());
    expect(res.json()).toMatchObject({ type: 'urn:og-civicrm-sync:problem:invalid-json', detail: 'the body is not valid UTF-8' });
    await expectNothingStored(app);
  });

  it.each([
    ['application/json; charset=utf-8', { 'content-type': 'application/json; charset=utf-8' }],
    ['application/cloudevents+json', { 'content-type': 'application/cloudevents+json' }],
  ])('takes %s, like /webhooks/og', async (_name, headers) => {
    const res = await adminRequest(app, 'POST', '/admin/events', { payload: JSON.stringify(sampleBody('og.group.deleted')), headers });
    expect(res.statusCode, res.body).toBe(202);
  });

  it.each([
    ['text/plain', { 'content-type': 'text/plain' }],
    ['form data (curl -d without -H)', { 'content-type': 'application/x-www-form-urlencoded' }],
  ])('refuses %s with 415, like /webhooks/og', async (_name, headers) => {
    const res = await adminRequest(app, 'POST', '/admin/events', { payload: JSON.stringify(sampleBody('og.group.deleted')), headers });
    expectProblem(res, 415);
    await expectNothingStored(app);
  });
});

/**
 * Four events in four states, oldest first: done (group 42 synced), dead (member 9 of 43
 * failed for good), retrying (member 9 of 44 failed, retry due later), pending (group 45).
 */
async function seedEvents(): Promise<Record<'done' | 'dead' | 'retrying' | 'pending', string>> {
  const send = async (id: string, type: EventTypeName, change: (d: Record<string, any>) => void) =>
    expectAnswer(await manual({ ...sampleBody(type, change), id }), 'accepted', id);
  await send('evt-done', 'og.group.created', (d) => delete d.group.owner);
  await send('evt-dead', 'og.membership.created', (d) => (d.group_id = 43));
  await send('evt-retrying', 'og.membership.created', (d) => (d.group_id = 44));
  await send('evt-pending', 'og.group.deleted', (d) => (d.group.id = 45));

  await app.store.groupSynced(await asHolder(app.store, 42), (await app.store.group(42))!.dirtySeq, CIVI, Date.now());
  await app.store.memberFailed(await asHolder(app.store, 43), 9, { error: 'no CiviCRM contact for Drupal user 9 and no email to create one' });
  await app.store.memberFailed(await asHolder(app.store, 44), 9, { error: 'CiviCRM answered 503', retryAt: Date.now() + 3_600_000 });
  return { done: 'evt-done', dead: 'evt-dead', retrying: 'evt-retrying', pending: 'evt-pending' };
}

describe('GET /admin/events', () => {
  it('lists every event newest first with the documented fields', async () => {
    await seedEvents();
    const events = await listEvents();
    expect(events.map((e) => e.id)).toEqual(['evt-pending', 'evt-retrying', 'evt-dead', 'evt-done']);
    for (const event of events) {
      expect(event).toMatchObject({
        id: expect.any(String),
        source: 'og',
        type: expect.stringMatching(/^og\./),
        status: expect.stringMatching(/^(pending|dead|done)$/),
        received_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/),
        attempts: expect.any(Number),
      });
      expect(event).toHaveProperty('last_error');
    }
  });

  it('status=dead lists the dead event with its error', async () => {
    await seedEvents();
    expect(await listEvents('?status=dead')).toEqual([
      expect.objectContaining({
        id: 'evt-dead',
        status: 'dead',
        attempts: 1,
        last_error: 'no CiviCRM contact for Drupal user 9 and no email to create one',
      }),
    ]);
  });

  it('status=pending includes events waiting for a retry', async () => {
    await seedEvents();
    expect(await listEvents('?status=pending')).toEqual([
      expect.objectContaining({ id: 'evt-pending', status: 'pending', attempts: 0, last_error: null }),
      expect.objectContaining({ id: 'evt-retrying', status: 'pending', attempts: 1, last_error: 'CiviCRM answered 503' }),
    ]);
  });

  it('status=done lists the applied event', async () => {
    await seedEvents();
    expect(await listEvents('?status=done')).toEqual([expect.objectContaining({ id: 'evt-done', status: 'done' })]);
  });

  it('status=done is paged by cursor: next_cursor while a page is full, none after the last', async () => {
    for (const n of [1, 2, 3]) {
      const body = { ...sampleBody('og.group.updated', (d) => (d.group.title = `Title ${n}`)), id: `evt-${n}`, timestamp: `2026-11-2${n}T10:00:00Z` };
      expectAnswer(await manual(body), 'accepted', `evt-${n}`);
    }
    const lease = await asHolder(app.store, (await app.store.groupIds())[0]!);
    await app.store.groupSynced(lease, (await app.store.group(lease.ogId))!.dirtySeq, CIVI, Date.now());
    await app.store.membersSynced(lease, (await app.store.members(lease.ogId)).map((m) => ({ uid: m.uid, dirtySeq: m.dirtySeq })));

    const first = await adminRequest(app, 'GET', '/admin/events?status=done&limit=2');
    expect(first.json()).toEqual({ events: [expect.objectContaining({ id: 'evt-3' }), expect.objectContaining({ id: 'evt-2' })], next_cursor: 'evt-2' });
    const last = await adminRequest(app, 'GET', '/admin/events?status=done&limit=2&cursor=evt-2');
    expect(last.json()).toEqual({ events: [expect.objectContaining({ id: 'evt-1' })] });
    expectProblem(await adminRequest(app, 'GET', '/admin/events?status=dead&cursor=evt-2'), 400);
  });

  it('limit keeps the newest', async () => {
    await seedEvents();
    expect((await listEvents('?limit=2')).map((e) => e.id)).toEqual(['evt-pending', 'evt-retrying']);
    expect((await listEvents('?status=pending&limit=1')).map((e) => e.id)).toEqual(['evt-pending']);
  });

  it('lists Drupal deliveries with source drupal', async () => {
    expectAnswer(await postDrupal(app, 'entity:node:create', drupalFixture('node-group-create'), { delivery: 'dlv-1' }), 'accepted');
    expect(await listEvents()).toEqual([expect.objectContaining({ id: 'dlv-1', source: 'drupal', type: 'og.group.created' })]);
  });

  it.each(['?status=bogus', '?status=retrying', '?status=', '?limit=0', '?limit=-1', '?limit=abc', '?limit=1.5', '?limit=1001'])(
    'answers 400 for %s',
    async (query) => {
      expectProblem(await adminRequest(app, 'GET', `/admin/events${query}`), 400);
    },
  );
});

describe('POST /admin/events/{id}/replay', () => {
  it('puts a dead event back to pending', async () => {
    await seedEvents();
    const res = await adminRequest(app, 'POST', '/admin/events/evt-dead/replay');
    expect(res.statusCode).toBe(202);
    expect(res.json()).toEqual({ id: 'evt-dead', status: 'pending' });
    expect(await listEvents('?status=dead')).toEqual([]);
    expect(await listEvents('?status=pending')).toContainEqual(expect.objectContaining({ id: 'evt-dead', status: 'pending' }));
  });

  it('puts a done event back to pending', async () => {
    await seedEvents();
    expect((await adminRequest(app, 'POST', '/admin/events/evt-done/replay')).statusCode).toBe(202);
    expect(await listEvents('?status=done')).toEqual([]);
    expect(await app.store.group(42)).toMatchObject({ syncState: 'dirty' });
  });

  it('wakes the sync side', async () => {
    let wakes = 0;
    await replaceApp({ deps: { sync: syncStub({ wake: () => void wakes++ }) } });
    await seedEvents();
    await adminRequest(app, 'POST', '/admin/events/evt-dead/replay');
    expect(wakes).toBe(1);
  });

  it('answers 404 for an unknown id', async () => {
    await seedEvents();
    expectProblem(await adminRequest(app, 'POST', '/admin/events/no-such-event/replay'), 404, /no-such-event/);
  });
});

describe('GET /admin/groups and /admin/groups/{ogId}/members', () => {
  async function seedGroups() {
    for (const [id, title] of [[41, 'Chess Club'], [42, 'Go Club'], [43, 'Chess & Go'], [44, 'Bridge']] as const) {
      expectAnswer(await manual({ ...sampleBody('og.group.created', (d) => ((d.group.id = id), (d.group.title = title), delete d.group.owner)), id: `g-${id}` }), 'accepted', `g-${id}`);
    }
    await app.store.groupSynced(await asHolder(app.store, 44), (await app.store.group(44))!.dirtySeq, CIVI, Date.now());
    for (const uid of [7, 8, 9]) {
      const body = sampleBody('og.membership.created', (d) => ((d.group_id = 41), (d.user = { id: uid, email: `u${uid}@example.org` })));
      expectAnswer(await manual({ ...body, id: `m-${uid}` }), 'accepted', `m-${uid}`);
    }
  }
  const get = async (url: string) => {
    const res = await adminRequest(app, 'GET', url);
    expect(res.statusCode, res.body).toBe(200);
    return res.json();
  };

  it('pages groups by id, filtered by sync state and by title or id', async () => {
    await seedGroups();
    const first = await get('/admin/groups?limit=2');
    expect(first.groups.map((g: { ogId: number }) => g.ogId)).toEqual([41, 42]);
    expect(first.next_cursor).toBe('42');
    const rest = await get(`/admin/groups?limit=2&cursor=${first.next_cursor}`);
    expect(rest.groups.map((g: { ogId: number }) => g.ogId)).toEqual([43, 44]);
    expect((await get(`/admin/groups?limit=2&cursor=44`))).toEqual({ groups: [] });
    expect((await get('/admin/groups?q=chess')).groups.map((g: { title: string }) => g.title)).toEqual(['Chess Club', 'Chess & Go']);
    expect((await get('/admin/groups?q=43')).groups.map((g: { ogId: number }) => g.ogId)).toEqual([43]);
    expect((await get('/admin/groups?q=100%25')).groups).toEqual([]);
    expect((await get('/admin/groups?state=clean')).groups.map((g: { ogId: number }) => g.ogId)).toEqual([44]);
    expectProblem(await adminRequest(app, 'GET', '/admin/groups?state=lost'), 400);
    expectProblem(await adminRequest(app, 'GET', '/admin/groups?cursor=abc'), 400);
  });

  it("pages a group's members by uid, filtered by sync state; an unknown group is 404", async () => {
    await seedGroups();
    const first = await get('/admin/groups/41/members?limit=2');
    expect(first.members.map((m: { uid: number }) => m.uid)).toEqual([7, 8]);
    expect((await get(`/admin/groups/41/members?limit=2&cursor=${first.next_cursor}`)).members.map((m: { uid: number }) => m.uid)).toEqual([9]);
    expect((await get('/admin/groups/41/members?state=dead')).members).toEqual([]);
    expect((await get('/admin/groups/41/members?state=dirty')).members).toHaveLength(3);
    expectProblem(await adminRequest(app, 'GET', '/admin/groups/99/members'), 404);
  });
});

describe('POST /admin/events/replay-dead', () => {
  it('puts every dead event back to pending, and says how many', async () => {
    const ids = await seedEvents();
    const res = await adminRequest(app, 'POST', '/admin/events/replay-dead');
    expect(res.statusCode, res.body).toBe(202);
    expect(res.json()).toEqual({ replayed: 1, more: false });
    expect(await listEvents('?status=dead')).toEqual([]);
    expect((await listEvents('?status=pending')).map((e) => e.id)).toContain(ids.dead);
    expect((await adminRequest(app, 'POST', '/admin/events/replay-dead')).json()).toEqual({ replayed: 0, more: false });
  });
});

describe('GET /admin/groups/{ogId}', () => {
  it('answers 404 for a group never seen', async () => {
    expectProblem(await adminRequest(app, 'GET', '/admin/groups/42'), 404);
  });

  it('shows the ledger of a group: its record and members', async () => {
    expectAnswer(await manual(sampleBody('og.group.created')), 'accepted');
    expectAnswer(await manual(sampleBody('og.membership.created')), 'accepted');
    const res = await adminRequest(app, 'GET', '/admin/groups/42');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      group: { ogId: 42, title: 'Chess Club', deleted: false, syncState: 'dirty' },
      members: [
        // The owner: an administrator by ownership (the group's ownerUid), not by this membership.
        { uid: 7, state: 'active', isAdmin: false, syncState: 'dirty' },
        { uid: 9, state: 'pending', isAdmin: false, syncState: 'dirty' },
      ],
    });
  });

  it.each(['abc', '0', '-1', '1.5', '99999999999999999999'])('answers 400 for the ogId %s', async (ogId) => {
    expectProblem(await adminRequest(app, 'GET', `/admin/groups/${ogId}`), 400);
  });
});

describe('POST /admin/groups/{ogId}/reconcile', () => {
  it('answers 404 for a group never seen', async () => {
    expectProblem(await adminRequest(app, 'POST', '/admin/groups/42/reconcile'), 404);
  });

  it('marks a known group and its members to be synced again', async () => {
    expectAnswer(await manual(sampleBody('og.group.created')), 'accepted');
    await app.store.groupSynced(await asHolder(app.store, 42), (await app.store.group(42))!.dirtySeq, CIVI, Date.now());
    const res = await adminRequest(app, 'POST', '/admin/groups/42/reconcile');
    expect(res.statusCode).toBe(202);
    expect(await app.store.group(42)).toMatchObject({ syncState: 'dirty' });
  });
});

describe('health', () => {
  it('GET /healthz answers 200 without a token', async () => {
    const res = await app.fastify.inject({ url: '/healthz' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok' });
  });

  it('GET /readyz answers 200 when the store is writable', async () => {
    const res = await app.fastify.inject({ url: '/readyz' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ready', store: 'writable', civicrm: null });
  });

  it('GET /readyz says whether CiviCRM answered lately', async () => {
    const civicrm = { reachable: true, lastContactAt: '2026-11-24T10:00:00.000Z', version: '5.69.0', lastError: null };
    await replaceApp({ deps: { sync: syncStub({ civicrm: () => civicrm }) } });
    expect((await app.fastify.inject({ url: '/readyz' })).json()).toMatchObject({ status: 'ready', civicrm });
  });

  it('GET /readyz answers 503 when the store cannot take writes', async () => {
    await app.store.close();
    const res = await app.fastify.inject({ url: '/readyz' });
    expect(res.statusCode).toBe(503);
    // The driver's words are for the log and the operator API, not for an unauthenticated probe.
    expect(res.json()).toEqual({ status: 'unavailable', store: 'not writable', civicrm: null });
    const status = await adminRequest(app, 'GET', '/admin/status');
    expect(status.statusCode).toBe(503);
    expect(status.json().detail).toMatch(/database connection is not open/);
  });

  it('GET /readyz answers 503 while shutting down', async () => {
    app.intake.close();
    expect((await app.fastify.inject({ url: '/readyz' })).statusCode).toBe(503);
  });
});

/** The value of a sample of a metric whose labels include the given ones; undefined when absent. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    const match = new RegExp(`^${name}\\{(.*)\\} (\\S+)$`).exec(line);
    if (!match) continue;
    const found = Object.fromEntries([...match[1]!.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => found[k] === v)) return Number(match[2]);
  }
  return undefined;
}

describe('GET /metrics', () => {
  let text: string;
  let res: Response;

  beforeEach(async () => {
    const body = sampleBody('og.group.deleted');
    expectAnswer(await postNative(app, body, { id: 'evt-m' }), 'accepted');
    expectAnswer(await postNative(app, body, { id: 'evt-m' }), 'duplicate');
    expectProblem(await postNative(app, body, { secret: 'not-the-secret' }), 401);
    expectProblem(await postNative(app, { ...body, type: 'og.group.exploded' }), 400);
    expectProblem(await postNative(app, { ...body, type: 'og.group.exploded' }), 400);
    expectAnswer(await postDrupal(app, 'entity:node:update', drupalFixture('node-article-update')), 'ignored');
    await app.fastify.inject({ url: '/healthz' });
    res = await app.fastify.inject({ url: '/metrics' });
    text = res.body;
  });

  it('answers in the Prometheus text format', () => {
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(text).toMatch(/^# HELP og_sync_http_requests_total /m);
    expect(text).toMatch(/^# TYPE og_sync_events_total counter$/m);
  });

  it('counts HTTP requests by route and status', () => {
    expect(sample(text, 'og_sync_http_requests_total', { method: 'POST', route: '/webhooks/og', status: '202' })).toBe(2);
    expect(sample(text, 'og_sync_http_requests_total', { method: 'POST', route: '/webhooks/og', status: '401' })).toBe(1);
    expect(sample(text, 'og_sync_http_requests_total', { method: 'POST', route: '/webhooks/og', status: '400' })).toBe(2);
  });

  it('counts deliveries by outcome and rejection reason', () => {
    const events = (labels: Record<string, string>) => sample(text, 'og_sync_events_total', labels);
    expect(events({ source: 'og', outcome: 'accepted' })).toBe(1);
    expect(events({ source: 'og', outcome: 'duplicate' })).toBe(1);
    expect(events({ source: 'og', outcome: 'rejected', reason: 'bad-signature' })).toBe(1);
    expect(events({ source: 'og', outcome: 'rejected', reason: 'invalid-event' })).toBe(2);
    expect(events({ source: 'drupal', outcome: 'ignored' })).toBe(1);
  });
});

describe('GET /openapi.yaml', () => {
  it('serves the top-level openapi.yaml as YAML', async () => {
    const res = await app.fastify.inject({ url: '/openapi.yaml' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/yaml/);
    expect(res.body).toBe(readFileSync(new URL('../openapi.yaml', import.meta.url), 'utf8'));
  });

  it('is an OpenAPI 3.1 document of the contract paths', async () => {
    const res = await app.fastify.inject({ url: '/openapi.yaml' });
    expect(res.body).toMatch(/^openapi: ["']?3\.1\.\d/m);
    for (const path of ['/webhooks/og', '/webhooks/drupal', '/healthz', '/readyz', '/metrics', '/admin/status', '/admin/events', '/admin/events/{id}/replay', '/admin/groups/{ogId}']) {
      expect(res.body).toContain(`${path}:`);
    }
  });
});
