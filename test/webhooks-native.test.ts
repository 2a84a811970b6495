// POST /webhooks/og: every answer of the contract's table, and what each leaves in the store.
import { Webhook } from 'standardwebhooks';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { BODY_LIMIT } from '../src/http/json-body.js';
import { signNative } from '../src/http/signatures.js';
import {
  PLAIN_SECRET,
  SECRET,
  signedNative,
  testApp,
  testEnv,
  uniqueId,
  UNKNOWN_PLAIN_SECRET,
  UNKNOWN_SECRET,
  type TestApp,
  userOf,
} from './support/app.js';
import { ANN, BO, EVENT_TYPES, INVALID_EVENTS, sampleBody, type EventTypeName } from './support/events.js';
import {
  expectAnswer,
  expectNothingStored,
  expectProblem,
  expectRetryLater,
  postNative,
  type NativeDelivery,
} from './support/http.js';


/** 2026-11-24 10:mm UTC, for ordering. */
const at = (minute: number) => new Date(Date.UTC(2026, 10, 24, 10, minute)).toISOString();
const nowSeconds = () => Math.floor(Date.now() / 1000);

let app: TestApp;
beforeEach(async () => {
  app = await testApp();
});
afterEach(async () => {
  await app.close();
});

async function deliver(body: unknown, opts: NativeDelivery = {}): Promise<string> {
  return expectAnswer(await postNative(app, body, opts), 'accepted').id;
}

describe('202 accepted', () => {
  it.each(EVENT_TYPES)('stores a signed %s before answering, with the webhook-id as its id', async (type) => {
    const res = await postNative(app, sampleBody(type), { id: `evt-${type}` });
    expectAnswer(res, 'accepted', `evt-${type}`);
    expect(await app.store.listEvents({ limit: 10 })).toEqual([
      expect.objectContaining({ id: `evt-${type}`, source: 'og', type, status: 'pending', attempts: 0, last_error: null }),
    ]);
    expect(await app.store.eventCounts()).toMatchObject({ accepted: 1, pending: 1 });
  });

  it('og.group.created records the group, its owner (an admin by ownership), and the owner profile', async () => {
    await deliver(sampleBody('og.group.created'));
    expect(await app.store.group(42)).toMatchObject({ ogId: 42, title: 'Chess Club', description: 'Tuesdays at 7 pm', deleted: false });
    expect(await app.store.group(42)).toMatchObject({ ownerUid: 7 });
    expect(await app.store.members(42)).toEqual([expect.objectContaining({ uid: 7, state: 'active', isAdmin: false })]);
    expect(await userOf(app.store, 7)).toEqual({ id: 7, email: 'ann@example.org', firstName: 'Ann', lastName: 'Lee' });
  });

  it('og.group.updated renames the group and keeps the description it does not mention', async () => {
    await deliver(sampleBody('og.group.created', undefined, at(0)));
    await deliver(sampleBody('og.group.updated', undefined, at(1)));
    expect(await app.store.group(42)).toMatchObject({ title: 'Chess & Go Club', description: 'Tuesdays at 7 pm', deleted: false });
  });

  it('og.group.deleted marks the group deleted and keeps its last title', async () => {
    await deliver(sampleBody('og.group.created', undefined, at(0)));
    await deliver(sampleBody('og.group.deleted', undefined, at(1)));
    expect(await app.store.group(42)).toMatchObject({ title: 'Chess Club', deleted: true });
  });

  it('og.membership.created records the member and the user profile', async () => {
    await deliver(sampleBody('og.membership.created'));
    expect(await app.store.members(42)).toEqual([expect.objectContaining({ ogId: 42, uid: 9, state: 'pending', isAdmin: false })]);
    expect(await userOf(app.store, 9)).toEqual({ id: 9, email: 'bo@example.net', firstName: 'Bo' });
  });

  it('og.membership.updated changes state and role', async () => {
    await deliver(sampleBody('og.membership.created', undefined, at(0)));
    await deliver(sampleBody('og.membership.updated', undefined, at(1)));
    expect(await app.store.members(42)).toEqual([expect.objectContaining({ uid: 9, state: 'active', isAdmin: true })]);
  });

  it('og.membership.deleted leaves the member in state deleted', async () => {
    await deliver(sampleBody('og.membership.created', undefined, at(0)));
    await deliver(sampleBody('og.membership.deleted', undefined, at(1)));
    expect(await app.store.members(42)).toEqual([expect.objectContaining({ uid: 9, state: 'deleted', isAdmin: false })]);
  });

  it('og.group.snapshot records the group and every listed member', async () => {
    await deliver(sampleBody('og.group.snapshot'));
    expect(await app.store.group(42)).toMatchObject({ title: 'Chess Club', deleted: false });
    expect(await app.store.members(42)).toEqual([
      expect.objectContaining({ uid: 7, state: 'active', isAdmin: true }),
      expect.objectContaining({ uid: 9, state: 'blocked', isAdmin: false }),
    ]);
  });

  it('accepts numeric string ids and stores them as numbers', async () => {
    await deliver(sampleBody('og.membership.created', (d) => {
      d.group_id = '42';
      d.user.id = '9';
    }));
    expect(await app.store.group(42)).toMatchObject({ ogId: 42 });
    expect(await app.store.members(42)).toEqual([expect.objectContaining({ ogId: 42, uid: 9 })]);
  });

  it('accepts the largest exact id', async () => {
    const id = Number.MAX_SAFE_INTEGER;
    await deliver(sampleBody('og.group.created', (d) => (d.group.id = id)));
    expect(await app.store.group(id)).toMatchObject({ ogId: id, title: 'Chess Club' });
  });

  it.each(['application/json; charset=utf-8', 'application/cloudevents+json'])('accepts content type %s', async (type) => {
    await deliver(sampleBody('og.group.deleted'), { headers: { 'content-type': type } });
  });

  it('accepts a body of exactly 1 MiB', async () => {
    await deliver(paddedBody(BODY_LIMIT));
    expect(await app.store.group(42)).toMatchObject({ deleted: true });
  });

  it.each([
    ['the whsec secret', () => new Webhook(SECRET)],
    ['the plain secret as raw key bytes', () => new Webhook(Buffer.from(PLAIN_SECRET), { format: 'raw' })],
  ])('accepts a delivery signed by the Standard Webhooks reference library with %s', async (_name, webhook) => {
    const payload = JSON.stringify(sampleBody('og.group.deleted'));
    const signedAt = new Date();
    const res = await app.fastify.inject({
      method: 'POST',
      url: '/webhooks/og',
      headers: {
        'content-type': 'application/json',
        'webhook-id': 'evt-lib',
        'webhook-timestamp': String(Math.floor(signedAt.getTime() / 1000)),
        'webhook-signature': webhook().sign('evt-lib', signedAt, payload),
      },
      payload,
    });
    expectAnswer(res, 'accepted', 'evt-lib');
  });

  it("accepts a delivery signed by the service's own signer (the CLI's send)", async () => {
    const payload = JSON.stringify(sampleBody('og.group.deleted'));
    const secret = loadConfig(testEnv()).webhookSecrets[0]!;
    const res = await app.fastify.inject({
      method: 'POST',
      url: '/webhooks/og',
      headers: { ...signNative(secret, 'evt-cli', payload), 'content-type': 'application/json' },
      payload,
    });
    expectAnswer(res, 'accepted', 'evt-cli');
  });
});

describe('202 duplicate', () => {
  it('a second delivery with the same webhook-id changes nothing', async () => {
    const id = uniqueId();
    await deliver(sampleBody('og.membership.created'), { id });
    expectAnswer(await postNative(app, sampleBody('og.membership.created'), { id }), 'duplicate', id);
    expect(await app.store.listEvents({ limit: 10 })).toHaveLength(1);
    expect(await app.store.eventCounts()).toMatchObject({ accepted: 1 });
  });

  it('a different body under an id already accepted is not applied', async () => {
    const id = uniqueId();
    await deliver(sampleBody('og.group.created', undefined, at(0)), { id });
    const res = await postNative(app, sampleBody('og.group.updated', (d) => (d.group.title = 'Hijacked'), at(5)), { id });
    expectAnswer(res, 'duplicate', id);
    expect(await app.store.group(42)).toMatchObject({ title: 'Chess Club' });
    expect(await app.store.listEvents({ limit: 10 })).toEqual([expect.objectContaining({ id, type: 'og.group.created' })]);
  });

  it('a redelivery signed with the other secret of a rotation is still a duplicate', async () => {
    const id = uniqueId();
    await deliver(sampleBody('og.group.deleted'), { id });
    expectAnswer(await postNative(app, sampleBody('og.group.deleted'), { id, secret: PLAIN_SECRET }), 'duplicate', id);
  });
});

describe('400', () => {
  it.each([
    ['truncated', '{"type":"og.group.deleted","data":{"group":{"id":42}}'],
    ['single quotes', "{'type':'og.group.deleted'}"],
    ['trailing garbage', `${JSON.stringify(sampleBody('og.group.deleted'))}x`],
    ['two documents', `${JSON.stringify(sampleBody('og.group.deleted'))}\n{}`],
    ['a bare word', 'undefined'],
    ['empty', ''],
    ['only whitespace', ' \n '],
  ])('refuses a body that is not JSON (%s)', async (_name, payload) => {
    expectProblem(await postNative(app, payload), 400, /JSON|empty/);
    await expectNothingStored(app);
  });

  it('refuses a correctly signed body that is not valid UTF-8, even inside a string', async () => {
    const [head, tail] = JSON.stringify(sampleBody('og.group.created', (d) => (d.group.title = 'Chess@'))).split('@');
    const payload = Buffer.concat([Buffer.from(head!), Buffer.from([0xc3, 0x28]), Buffer.from(tail!)]);
    expectProblem(await postNative(app, payload), 400, /UTF-8/);
    await expectNothingStored(app);
  });

  it.each(INVALID_EVENTS.map((c) => [c.name, c.body] as const))('refuses an event that does not match its schema: %s', async (_name, body) => {
    expectProblem(await postNative(app, JSON.stringify(body)), 400);
    await expectNothingStored(app);
  });

  it.each([
    ['missing', undefined],
    ['empty', ''],
    ['not a date', 'next Tuesday'],
    ['an impossible date', '2026-13-45T25:61:00Z'],
  ])('refuses a native event whose timestamp is %s', async (_name, timestamp) => {
    const body: Record<string, unknown> = { ...sampleBody('og.group.created') };
    if (timestamp === undefined) delete body.timestamp;
    else body.timestamp = timestamp;
    expectProblem(await postNative(app, body), 400, /timestamp/);
    await expectNothingStored(app);
  });

  it('refuses a change dated more than a day ahead, which would outrank every later one', async () => {
    const body = { ...sampleBody('og.group.created'), timestamp: new Date(Date.now() + 2 * 86_400_000).toISOString() };
    expectProblem(await postNative(app, body), 400, /future/);
    await expectNothingStored(app);
  });

  it('names the offending field in the detail', async () => {
    const res = await postNative(app, sampleBody('og.membership.created', (d) => delete d.group_id));
    expectProblem(res, 400, /group_id/);
  });

  it.each([
    ['longer than 255 characters', 'x'.repeat(256)],
    ['with a space', 'evt 1'],
    ['with non-ASCII', 'évt-1'],
  ])('refuses a signed webhook-id %s', async (_name, id) => {
    expectProblem(await postNative(app, sampleBody('og.group.deleted'), { id }), 400, /webhook-id/);
    await expectNothingStored(app);
  });
});

describe('401', () => {
  it.each(['webhook-id', 'webhook-timestamp', 'webhook-signature'])('refuses a delivery without %s', async (header) => {
    const res = await postNative(app, sampleBody('og.group.deleted'), { headers: { [header]: undefined } });
    expectProblem(res, 401, new RegExp(header));
    await expectNothingStored(app);
  });

  it.each([
    ['a whsec secret', UNKNOWN_SECRET],
    ['a plain secret', UNKNOWN_PLAIN_SECRET],
  ])('refuses a delivery signed with %s that is not configured', async (_name, secret) => {
    expectProblem(await postNative(app, sampleBody('og.group.deleted'), { secret }), 401);
    await expectNothingStored(app);
  });

  it('accepts the second secret of a rotation: the plain secret verifies too', async () => {
    await deliver(sampleBody('og.group.deleted'), { secret: PLAIN_SECRET });
    expect(await app.store.group(42)).toMatchObject({ deleted: true });
  });

  it('accepts either secret when only that one is configured', async () => {
    await app.close();
    app = await testApp({ config: loadConfig(testEnv({ WEBHOOK_SECRETS: PLAIN_SECRET })) });
    await deliver(sampleBody('og.group.deleted'), { secret: PLAIN_SECRET });
    expectProblem(await postNative(app, sampleBody('og.group.deleted'), { secret: SECRET }), 401);
  });

  it('refuses a tampered body', async () => {
    const signedFor = sampleBody('og.group.created');
    const sent = JSON.stringify(sampleBody('og.group.created', (d) => (d.group.title = 'Hijacked'), signedFor.timestamp));
    expectProblem(await postNative(app, signedFor, { payload: sent }), 401);
    await expectNothingStored(app);
  });

  it('refuses a body with a byte appended', async () => {
    const body = JSON.stringify(sampleBody('og.group.deleted'));
    expectProblem(await postNative(app, body, { payload: `${body} ` }), 401);
    await expectNothingStored(app);
  });

  it('refuses a webhook-id other than the one signed', async () => {
    const res = await postNative(app, sampleBody('og.group.deleted'), { id: 'evt-signed', headers: { 'webhook-id': 'evt-sent' } });
    expectProblem(res, 401);
    await expectNothingStored(app);
  });

  it('refuses a webhook-timestamp other than the one signed', async () => {
    const signedAt = nowSeconds();
    const res = await postNative(app, sampleBody('og.group.deleted'), { at: signedAt, headers: { 'webhook-timestamp': String(signedAt - 1) } });
    expectProblem(res, 401);
    await expectNothingStored(app);
  });

  it.each([
    ['stale', -6 * 60],
    ['future', +6 * 60],
    ['a day old', -24 * 3600],
  ])('refuses a %s timestamp (more than 5 minutes off)', async (_name, offset) => {
    const res = await postNative(app, sampleBody('og.group.deleted'), { at: nowSeconds() + offset });
    expectProblem(res, 401, /5 minutes/);
    await expectNothingStored(app);
  });

  it.each([
    ['4 minutes old', -4 * 60],
    ['4 minutes ahead', +4 * 60],
  ])('accepts a timestamp within tolerance: %s', async (_name, offset) => {
    await deliver(sampleBody('og.group.deleted'), { at: nowSeconds() + offset });
  });

  it.each(['yesterday', '1e9', '-1', '12.5', '0x6543a1f0'])('refuses a webhook-timestamp of %j', async (timestamp) => {
    const res = await postNative(app, sampleBody('og.group.deleted'), { headers: { 'webhook-timestamp': timestamp } });
    expectProblem(res, 401);
    await expectNothingStored(app);
  });

  /** A signed delivery sent with its webhook-signature header replaced. */
  function withSignature(signed: ReturnType<typeof signedNative>, signature: string) {
    return app.fastify.inject({
      method: 'POST',
      url: '/webhooks/og',
      headers: { ...signed.headers, 'webhook-signature': signature },
      payload: signed.payload,
    });
  }

  it.each<[string, (signature: string) => string]>([
    ['garbage', () => 'garbage'],
    ['a version only', () => 'v1,'],
    ['no comma', () => 'v1'],
    ['another version', (s) => s.replace(/^v1,/, 'v2,')],
    ['no version', (s) => s.replace(/^v1,/, '')],
    ['truncated', (s) => s.slice(0, -4)],
    ['a space instead of the comma', (s) => s.replace(/^v1,/, 'v1 ')],
    ['only wrong signatures', () => 'v1,AAAA v1,BBBB'],
  ])('refuses a malformed webhook-signature: %s', async (_name, spoil) => {
    const signed = signedNative(sampleBody('og.group.deleted'));
    expectProblem(await withSignature(signed, spoil(signed.headers['webhook-signature'])), 401);
    await expectNothingStored(app);
  });

  it.each<[string, (valid: string, wrong: string) => string]>([
    ['first', (v, w) => `${v} ${w}`],
    ['last', (v, w) => `${w} v2,abc ${v}`],
  ])('accepts several space-separated signatures where the %s one is valid', async (_name, combine) => {
    const body = sampleBody('og.group.deleted');
    const signed = signedNative(body);
    const wrong = signedNative(body, { id: signed.id, at: Number(signed.headers['webhook-timestamp']), secret: UNKNOWN_SECRET });
    const res = await withSignature(signed, combine(signed.headers['webhook-signature'], wrong.headers['webhook-signature']));
    expectAnswer(res, 'accepted', signed.id);
  });
});

/** A valid og.group.deleted body padded with an extra property to exactly `bytes` bytes. */
function paddedBody(bytes: number): string {
  const body = { ...sampleBody('og.group.deleted'), padding: '' };
  const padding = 'x'.repeat(bytes - Buffer.byteLength(JSON.stringify(body)));
  const payload = JSON.stringify({ ...body, padding });
  expect(Buffer.byteLength(payload)).toBe(bytes);
  return payload;
}

describe('413', () => {
  it('refuses a body over 1 MiB', async () => {
    expectProblem(await postNative(app, paddedBody(BODY_LIMIT + 1)), 413);
    await expectNothingStored(app);
  });
});

describe('415', () => {
  it.each([
    ['text/plain', 'text/plain'],
    ['form data', 'application/x-www-form-urlencoded'],
    ['XML', 'application/xml'],
    ['no content type', undefined],
  ])('refuses %s', async (_name, type) => {
    const res = await postNative(app, sampleBody('og.group.deleted'), { headers: { 'content-type': type } });
    expectProblem(res, 415);
    await expectNothingStored(app);
  });
});

describe('429 and 503', () => {
  it('answers 429 with Retry-After when too many deliveries are in flight', async () => {
    await app.close();
    app = await testApp({ deps: { maxInFlight: 0 } });
    expectRetryLater(await postNative(app, sampleBody('og.group.deleted')), 429);
    await expectNothingStored(app);
  });

  it('answers 503 with Retry-After while shutting down', async () => {
    app.intake.close();
    expectRetryLater(await postNative(app, sampleBody('og.group.deleted')), 503);
    await expectNothingStored(app);
  });

  it('answers 503 with Retry-After when the store cannot take writes', async () => {
    await app.store.close();
    expectRetryLater(await postNative(app, sampleBody('og.group.deleted')), 503, /store/);
  });
});

describe('ordering by timestamp', () => {
  const membership = (type: EventTypeName, minute: number, state: string, isAdmin: boolean) =>
    sampleBody(type, (d) => Object.assign(d, { state, is_admin: isAdmin }), at(minute));

  it('an older og.membership.updated after a newer one is recorded but leaves the newer state', async () => {
    await deliver(membership('og.membership.updated', 10, 'active', true));
    await deliver(membership('og.membership.updated', 5, 'blocked', false));
    expect(await app.store.members(42)).toEqual([expect.objectContaining({ uid: 9, state: 'active', isAdmin: true })]);
    expect(await app.store.listEvents({ limit: 10 })).toHaveLength(2);
  });

  it('an older og.membership.deleted does not remove a newer membership', async () => {
    await deliver(membership('og.membership.created', 10, 'active', false));
    await deliver(sampleBody('og.membership.deleted', undefined, at(5)));
    expect(await app.store.members(42)).toEqual([expect.objectContaining({ uid: 9, state: 'active' })]);
  });

  it('an older group update leaves the newer title', async () => {
    await deliver(sampleBody('og.group.updated', (d) => (d.group.title = 'Newer'), at(10)));
    await deliver(sampleBody('og.group.updated', (d) => (d.group.title = 'Older'), at(5)));
    expect(await app.store.group(42)).toMatchObject({ title: 'Newer' });
  });

  it('an older group deletion does not delete a group updated since', async () => {
    await deliver(sampleBody('og.group.updated', undefined, at(10)));
    await deliver(sampleBody('og.group.deleted', undefined, at(5)));
    expect(await app.store.group(42)).toMatchObject({ deleted: false });
  });

  it('a snapshot removes the members it does not list, but not a membership newer than itself', async () => {
    for (const uid of [7, 9, 11]) {
      await deliver(sampleBody('og.membership.created', (d) => Object.assign(d, { user: { id: uid }, state: 'active' }), at(0)));
    }
    await deliver(sampleBody('og.membership.created', (d) => Object.assign(d, { user: { id: 12 }, state: 'active' }), at(20)));
    await deliver(sampleBody('og.group.snapshot', (d) => (d.members = [{ user: ANN, state: 'active', is_admin: true }, { user: BO, state: 'pending', is_admin: false }]), at(10)));

    const members = await app.store.members(42);
    expect(members.map((m) => [m.uid, m.state, m.isAdmin])).toEqual([
      [7, 'active', true],
      [9, 'pending', false],
      [11, 'deleted', false],
      [12, 'active', false],
    ]);
  });

  it('a membership of a group never seen makes a placeholder group without a title', async () => {
    await deliver(sampleBody('og.membership.created', (d) => (d.group_id = 77), at(10)));
    const group = await app.store.group(77);
    expect(group).toMatchObject({ ogId: 77, deleted: false });
    expect(group).not.toHaveProperty('title');
  });

  it('any real group event, even an older one, gives the placeholder its title', async () => {
    await deliver(sampleBody('og.membership.created', (d) => (d.group_id = 77), at(10)));
    await deliver(sampleBody('og.group.created', (d) => (d.group.id = 77), at(0)));
    expect(await app.store.group(77)).toMatchObject({ title: 'Chess Club' });
  });
});
