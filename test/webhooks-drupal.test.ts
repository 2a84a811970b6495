// POST /webhooks/drupal with deliveries as Drupal's webhooks module posts them (test/fixtures/drupal).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { BODY_LIMIT } from '../src/http/json-body.js';
import { drupalDelivery, RELEASES, type Delivery, type WebhooksRelease } from './drupal-emulator/sender.js';
import {
  drupalFixture,
  PLAIN_SECRET,
  SECRET,
  signedDrupal,
  testApp,
  testConfig,
  uniqueId,
  UNKNOWN_PLAIN_SECRET,
  UNKNOWN_SECRET,
  type DrupalDelivery,
  type TestApp,
  userOf,
} from './support/app.js';
import { expectAnswer, expectNothingStored, expectProblem, postDrupal, type DrupalOptions } from './support/http.js';

let app: TestApp;
beforeEach(async () => {
  app = await testApp();
});
afterEach(async () => {
  await app.close();
});

/** Posts a delivery with its own `event` as X-Drupal-Event. */
const post = (delivery: DrupalDelivery, opts: DrupalOptions = {}) => postDrupal(app, delivery.event, delivery, opts);

async function deliver(delivery: DrupalDelivery, opts: DrupalOptions = {}): Promise<string> {
  return expectAnswer(await post(delivery, opts), 'accepted', opts.delivery).id;
}

/** The membership create fixture, dated long before anything else so later changes win. */
function oldMembershipCreate(): DrupalDelivery {
  const delivery = drupalFixture('og-membership-create');
  delivery.entity.created = [{ value: '2020-01-01T00:00:00+00:00' }];
  return delivery;
}

describe('group nodes', () => {
  it('a group node create is stored as og.group.created with title, text description and owner', async () => {
    const id = await deliver(drupalFixture('node-group-create'), { delivery: 'dlv-create' });
    expect(id).toBe('dlv-create');
    expect(await app.store.listEvents({ limit: 10 })).toEqual([
      expect.objectContaining({ id: 'dlv-create', source: 'drupal', type: 'og.group.created', occurred_at: '2026-11-24T10:00:00.000Z' }),
    ]);
    expect(await app.store.group(42)).toMatchObject({
      title: 'Chess Club',
      description: 'We meet every Tuesday at 7 pm.\nBeginners & experts welcome — bring a board!',
      deleted: false,
    });
    expect(await app.store.group(42)).toMatchObject({ ownerUid: 7 });
    expect(await app.store.members(42)).toEqual([expect.objectContaining({ uid: 7, state: 'active', isAdmin: false })]);
    expect(await userOf(app.store, 7)).toEqual({ id: 7, email: 'ann@example.org', firstName: 'Ann', lastName: 'Lee' });
  });

  it('a group node update from an older Drupal (string ids, Unix seconds) renames the group', async () => {
    await deliver(drupalFixture('node-group-update-legacy'));
    expect(await app.store.listEvents({ limit: 10 })).toEqual([expect.objectContaining({ type: 'og.group.updated' })]);
    expect(await app.store.group(42)).toMatchObject({ title: 'Chess & Go Club', description: 'Chess and Go.' });
    // The acting user (uid 1) is not the owner (uid 7): the owner is known by id only.
    expect(await userOf(app.store, 7)).toEqual({ id: 7 });
  });

  it("a save of the group node's translation is answered ignored and leaves the group's title and owner", async () => {
    await deliver(drupalFixture('node-group-create'));
    const translation = drupalFixture('node-group-update-translation');
    translation.entity.uid = [{ target_id: 9, target_type: 'user', target_uuid: '5d7e9f1a-2b3c-4d5e-8f90-a1b2c3d4e5f6', url: '/user/9' }];
    expectAnswer(await post(translation), 'ignored');
    expect(await app.store.group(42)).toMatchObject({ title: 'Chess Club', ownerUid: 7 });
    expect(await app.store.listEvents({ limit: 10 })).toHaveLength(1);
  });

  it("an update whose node changed before the one applied is recorded without effect (ordering by 'changed')", async () => {
    await deliver(drupalFixture('node-group-create')); // changed 2026-11-24
    await deliver(drupalFixture('node-group-update-legacy')); // changed 2024-11-24
    expect(await app.store.group(42)).toMatchObject({ title: 'Chess Club' });
    expect(await app.store.listEvents({ limit: 10 })).toHaveLength(2);
  });

  it('a group node delete marks the group deleted and keeps its title', async () => {
    await deliver(drupalFixture('node-group-create'));
    await deliver(drupalFixture('node-group-delete'));
    expect(await app.store.listEvents({ limit: 1 })).toEqual([expect.objectContaining({ type: 'og.group.deleted' })]);
    expect(await app.store.group(42)).toMatchObject({ title: 'Chess Club', deleted: true });
  });

  it("a delete outranks the node's last edit when Drupal's clock runs ahead of the service's", async () => {
    const lastEdit = new Date(Date.now() + 60_000).toISOString().replace(/\.\d{3}Z$/, '+00:00');
    const update = drupalFixture('node-group-create');
    update.event = 'entity:node:update';
    update.entity.changed = [{ value: lastEdit, format: 'Y-m-d\\TH:i:sP' }];
    const deletion = drupalFixture('node-group-delete');
    deletion.entity.changed = [{ value: lastEdit, format: 'Y-m-d\\TH:i:sP' }];
    await deliver(update);
    await deliver(deletion);
    expect(await app.store.group(42)).toMatchObject({ deleted: true });
    // That last edit delivered again, after the delete, does not bring the group back.
    await deliver(update, { delivery: 'dlv-late-update' });
    expect(await app.store.group(42)).toMatchObject({ deleted: true });
  });

  it('a delete is dated by its receipt when the last edit is older: a snapshot exported before it stays outranked', async () => {
    const before = Date.now();
    await deliver(drupalFixture('node-group-delete')); // last edited 2026-11-25
    const [deleted] = await app.store.listEvents({ limit: 1 });
    expect(Date.parse(deleted!.occurred_at)).toBeGreaterThanOrEqual(before - 1_000);
  });

  it('a node of another bundle is ignored and nothing is stored', async () => {
    const res = await post(drupalFixture('node-article-update'), { delivery: 'dlv-article' });
    expectAnswer(res, 'ignored', 'dlv-article');
    await expectNothingStored(app);
  });

  it.each(['entity:user:update', 'entity:taxonomy_term:create', 'entity:node:view', 'system:cron'])(
    'a delivery of %s is ignored and nothing is stored',
    async (event) => {
      const delivery = { ...drupalFixture('node-group-create'), event };
      expectAnswer(await post(delivery), 'ignored');
      await expectNothingStored(app);
    },
  );

  it("takes the event from the body when X-Drupal-Event is absent", async () => {
    await deliver(drupalFixture('node-group-create'), { headers: { 'x-drupal-event': undefined } });
    expect(await app.store.group(42)).toMatchObject({ title: 'Chess Club' });
  });

  it("refuses an X-Drupal-Event that contradicts the signed body's event", async () => {
    const delivery = drupalFixture('node-group-create');
    const res = await postDrupal(app, 'entity:node:delete', delivery);
    expectProblem(res, 400, /does not match/);
    await expectNothingStored(app);
  });

  it('refuses a group node without a title', async () => {
    const delivery = drupalFixture('node-group-create');
    delivery.entity.title = [];
    expectProblem(await post(delivery), 400, /title/);
    await expectNothingStored(app);
  });

  it('takes a body of nearly 1 MiB of "<" in stride and keeps the 65,535 bytes CiviCRM can store', async () => {
    // Any editor of group content can send this: the signature does not protect against it.
    const delivery = drupalFixture('node-group-create');
    delivery.entity.body = [{ value: '<'.repeat(1_000_000), format: 'basic_html', summary: '' }];
    await deliver(delivery);
    expect((await app.store.group(42))?.description).toBe('<'.repeat(65_535));
  });

  it('keeps entity names that happen to be Object.prototype members as written', async () => {
    const delivery = drupalFixture('node-group-create');
    delivery.entity.body = [{ value: '<p>&constructor; &toString; &valueOf; &amp;</p>', format: 'basic_html' }];
    await deliver(delivery);
    expect(await app.store.group(42)).toMatchObject({ description: '&constructor; &toString; &valueOf; &' });
  });
});

describe('OG memberships', () => {
  it('a membership create records the member, the acting user as its profile, and a placeholder group', async () => {
    const before = Date.now();
    await deliver(drupalFixture('og-membership-create'));
    const [event] = await app.store.listEvents({ limit: 10 });
    expect(event).toMatchObject({ source: 'drupal', type: 'og.membership.created' });
    // Memberships go by the time of receipt, not by the entity's `created`.
    expect(Date.parse(event!.occurred_at)).toBeGreaterThanOrEqual(before);
    expect(await app.store.members(42)).toEqual([expect.objectContaining({ uid: 9, state: 'pending', isAdmin: false })]);
    // The mail is trimmed; an empty last name is left out.
    expect(await userOf(app.store, 9)).toEqual({ id: 9, email: 'bo.schmidt@example.net', firstName: 'Bo' });
    const group = await app.store.group(42);
    expect(group).toMatchObject({ ogId: 42, deleted: false });
    expect(group).not.toHaveProperty('title');
  });

  it('a membership create with the administrator role makes an admin', async () => {
    const delivery = drupalFixture('og-membership-create');
    delivery.entity.state = [{ value: 'active' }];
    delivery.entity.roles = [{ target_id: 'node-group-administrator', target_type: 'og_role' }];
    await deliver(delivery);
    expect(await app.store.members(42)).toEqual([expect.objectContaining({ uid: 9, state: 'active', isAdmin: true })]);
  });

  it('a membership update that grants the administrator role makes the member an active admin', async () => {
    await deliver(oldMembershipCreate());
    await deliver(drupalFixture('og-membership-update-admin'));
    expect(await app.store.members(42)).toEqual([expect.objectContaining({ uid: 9, state: 'active', isAdmin: true })]);
  });

  it('a membership delete leaves the member in state deleted', async () => {
    await deliver(oldMembershipCreate());
    await deliver(drupalFixture('og-membership-delete'));
    expect(await app.store.members(42)).toEqual([expect.objectContaining({ uid: 9, state: 'deleted', isAdmin: false })]);
  });

  it('a membership in a group of another bundle is ignored', async () => {
    const delivery = drupalFixture('og-membership-create');
    delivery.entity.entity_bundle = [{ value: 'article' }];
    expectAnswer(await post(delivery), 'ignored');
    await expectNothingStored(app);
  });

  it.each<[string, (entity: Record<string, unknown>) => void]>([
    ['an unknown state', (e) => (e.state = [{ value: 'gone' }])],
    ['no uid', (e) => delete e.uid],
    ['entity_id 0', (e) => (e.entity_id = [{ value: '0' }])],
    ['entity_id "abc"', (e) => (e.entity_id = [{ value: 'abc' }])],
  ])('refuses a membership with %s', async (_name, spoil) => {
    const delivery = drupalFixture('og-membership-create');
    spoil(delivery.entity);
    expectProblem(await post(delivery), 400);
    await expectNothingStored(app);
  });
});

describe('signature', () => {
  it('the plain shared secret verifies', async () => {
    await deliver(drupalFixture('node-group-create'));
  });

  it.each([
    ['missing', undefined],
    ['empty', ''],
    ['of the wrong algorithm', `sha1=${'a'.repeat(40)}`],
    ['not hex', `sha256=${'z'.repeat(64)}`],
    ['too short', `sha256=${'a'.repeat(63)}`],
    ['a wrong HMAC', `sha256=${'0'.repeat(64)}`],
  ])('refuses a delivery whose X-Hub-Signature-256 is %s', async (_name, signature) => {
    const res = await post(drupalFixture('node-group-create'), { headers: { 'x-hub-signature-256': signature } });
    expectProblem(res, 401);
    await expectNothingStored(app);
  });

  it.each([
    ['a whsec secret that is not configured', UNKNOWN_SECRET],
    ['a plain secret that is not configured', UNKNOWN_PLAIN_SECRET],
  ])('refuses a delivery signed with %s', async (_name, secret) => {
    expectProblem(await post(drupalFixture('node-group-create'), { secret }), 401);
    await expectNothingStored(app);
  });

  it('refuses a body changed after signing', async () => {
    const signedFor = drupalFixture('node-group-create');
    const sent = drupalFixture('node-group-create');
    sent.entity.title = [{ value: 'Hijacked' }];
    const res = await app.fastify.inject({
      method: 'POST',
      url: '/webhooks/drupal',
      headers: signedDrupal(signedFor.event, signedFor).headers,
      payload: JSON.stringify(sent),
    });
    expectProblem(res, 401);
    await expectNothingStored(app);
  });

  it('the configured whsec secret, used as a shared secret, verifies as well', async () => {
    await deliver(drupalFixture('node-group-create'), { secret: SECRET });
  });
});

/** A fixture's bytes, exactly as Drupal's JSON encoder wrote them. */
const fixtureBytes = (name: string): Buffer => readFileSync(new URL(`./fixtures/drupal/${name}.json`, import.meta.url));

/** Posts a delivery as the module sent it: its headers, its bytes. */
const send = (delivery: Delivery, headers: Record<string, string | undefined> = {}) =>
  app.fastify.inject({ method: 'POST', url: '/webhooks/drupal', headers: { ...delivery.headers, ...headers }, payload: delivery.body });

/** The fixture as the given release would post it: alpha6 names the acting user `account`. */
function asSentBy(release: WebhooksRelease, name: string, secret = PLAIN_SECRET): Delivery {
  const parsed = drupalFixture(name);
  const bytes = release === '8.x-1.0-alpha6' ? undefined : fixtureBytes(name);
  return drupalDelivery(release, parsed, secret, bytes);
}

describe('deliveries as each release of the webhooks module sends them', () => {
  it.each(RELEASES)('%s: a group node create is accepted, with the owner from the acting user', async (release) => {
    const answer = await send(asSentBy(release, 'node-group-create'));
    expect(answer.statusCode, answer.body).toBe(202);
    expect(answer.json()).toMatchObject({ status: 'accepted' });
    expect(await app.store.group(42)).toMatchObject({ title: 'Chess Club' });
    expect(await userOf(app.store, 7)).toEqual({ id: 7, email: 'ann@example.org', firstName: 'Ann', lastName: 'Lee' });
  });

  it('a title with the characters Drupal escapes is stored as typed', async () => {
    const bytes = fixtureBytes('node-group-create-escapes');
    // As the module sends it: \u0026, \u0027, \u003C, \u0022, \/ and \u00e9.
    expect(bytes.toString()).toContain(String.raw`"title":[{"value":"Tom \u0026 Jerry\u0027s \u003CClub\u003E \u0022A\/B\u0022 caf\u00e9"}]`);
    const answer = await send(drupalDelivery('8.x-1.0-alpha8', drupalFixture('node-group-create-escapes'), PLAIN_SECRET, bytes));
    expect(answer.statusCode, answer.body).toBe(202);
    expect(await app.store.group(42)).toMatchObject({
      title: `Tom & Jerry's <Club> "A/B" café`,
      // The narrow no-break space is white space to the text: one plain space.
      description: 'Café & chess: "A/B" openings, 7 pm – all welcome 😀',
    });
  });

  it('8.x-1.x signs with X-Hub-Signature (sha1) only; a wrong one is refused', async () => {
    const delivery = asSentBy('8.x-1.0-alpha8', 'node-group-create');
    expect(Object.keys(delivery.headers)).not.toContain('x-hub-signature-256');
    const wrong = drupalDelivery('8.x-1.0-alpha8', drupalFixture('node-group-create'), UNKNOWN_PLAIN_SECRET, delivery.body);
    expectProblem(await send(wrong), 401, /no signature matches \(X-Hub-Signature\)/);
    await expectNothingStored(app);
  });

  it('with X-Hub-Signature-256 present it alone decides: a wrong sha256 next to a right sha1 is refused', async () => {
    const delivery = asSentBy('3.x', 'node-group-create');
    expectProblem(await send(delivery, { 'x-hub-signature-256': `sha256=${'0'.repeat(64)}` }), 401, /X-Hub-Signature-256/);
    await expectNothingStored(app);
  });

  it('an empty X-Hub-Signature-256 is present too: a right sha1 next to it does not save it', async () => {
    const delivery = asSentBy('3.x', 'node-group-create');
    expectProblem(await send(delivery, { 'x-hub-signature-256': '' }), 401, /X-Hub-Signature-256 must be sha256=<64 hex digits>/);
    await expectNothingStored(app);
  });

  it('refuses a malformed X-Hub-Signature', async () => {
    const delivery = asSentBy('8.x-1.0-alpha8', 'node-group-create');
    expectProblem(await send(delivery, { 'x-hub-signature': `sha256=${'0'.repeat(64)}` }), 401, /sha1=<40 hex digits>/);
  });

  it('DRUPAL_SIGNATURES=sha256 refuses a sha1-only delivery and says why; 3.x deliveries still pass', async () => {
    await app.close();
    app = await testApp({ config: testConfig({ DRUPAL_SIGNATURES: 'sha256' }) });
    const refused = await send(asSentBy('8.x-1.0-alpha8', 'node-group-create'));
    expectProblem(refused, 401, /only X-Hub-Signature \(HMAC-SHA1\) was sent, and DRUPAL_SIGNATURES allows sha256 only/);
    await expectNothingStored(app);
    expect((await send(asSentBy('3.x', 'node-group-create'))).statusCode).toBe(202);
  });

  it('an unsigned delivery (the module posts unsigned when its secret is empty) is refused', async () => {
    const { 'x-hub-signature': _sha1, ...unsigned } = asSentBy('8.x-1.0-alpha8', 'node-group-create').headers;
    const res = await app.fastify.inject({ method: 'POST', url: '/webhooks/drupal', headers: unsigned, payload: fixtureBytes('node-group-create') });
    expectProblem(res, 401, /missing header X-Hub-Signature-256 \(or X-Hub-Signature\)/);
  });

  it("alpha6's `account` gives the member's details like `user` does", async () => {
    const answer = await send(asSentBy('8.x-1.0-alpha6', 'og-membership-create'));
    expect(answer.statusCode, answer.body).toBe(202);
    expect(await userOf(app.store, 9)).toMatchObject({ id: 9, email: 'bo.schmidt@example.net', firstName: 'Bo' });
  });
});

describe('X-Drupal-Delivery', () => {
  it('a second delivery with the same id is a duplicate and changes nothing', async () => {
    const delivery = uniqueId('dlv');
    await deliver(drupalFixture('node-group-create'), { delivery });
    const renamed = drupalFixture('node-group-create');
    renamed.entity.title = [{ value: 'Renamed' }];
    renamed.entity.changed = [{ value: '2026-11-25T00:00:00+00:00' }];
    expectAnswer(await post(renamed, { delivery }), 'duplicate', delivery);
    expect(await app.store.group(42)).toMatchObject({ title: 'Chess Club' });
    expect(await app.store.listEvents({ limit: 10 })).toHaveLength(1);
  });

  it.each([
    ['missing', undefined],
    ['empty', ''],
  ])('refuses a delivery whose X-Drupal-Delivery is %s', async (_name, value) => {
    const res = await post(drupalFixture('node-group-create'), { headers: { 'x-drupal-delivery': value } });
    expectProblem(res, 400, /X-Drupal-Delivery/);
    await expectNothingStored(app);
  });
});

describe('other refusals', () => {
  it.each(['{"event":', '', 'null', '[]', '"entity:node:create"'])('refuses the signed body %j with 400', async (body) => {
    expectProblem(await postDrupal(app, 'entity:node:create', body), 400);
    await expectNothingStored(app);
  });

  it('refuses a signed body over 1 MiB with 413', async () => {
    const delivery = drupalFixture('node-group-create');
    delivery.entity.field_padding = [{ value: 'x'.repeat(BODY_LIMIT) }];
    expectProblem(await post(delivery), 413);
    await expectNothingStored(app);
  });

  it('refuses a signed text/plain body with 415', async () => {
    const res = await post(drupalFixture('node-group-create'), { headers: { 'content-type': 'text/plain' } });
    expectProblem(res, 415);
    await expectNothingStored(app);
  });
});

describe('OG_GROUP_BUNDLES', () => {
  const clubNode = () => {
    const delivery = drupalFixture('node-group-create');
    delivery.entity.type = [{ target_id: 'club', target_type: 'node_type' }];
    delivery.entity.nid = [{ value: 43 }];
    delivery.entity.title = [{ value: 'Go Club' }];
    return delivery;
  };

  it('with the default (group), a node of bundle club is ignored', async () => {
    expectAnswer(await post(clubNode()), 'ignored');
    await expectNothingStored(app);
  });

  describe('with group,club', () => {
    beforeEach(async () => {
      await app.close();
      app = await testApp({ config: testConfig({ OG_GROUP_BUNDLES: 'group,club' }) });
    });

    it('nodes of either bundle are groups', async () => {
      await deliver(drupalFixture('node-group-create'));
      await deliver(clubNode());
      expect(await app.store.group(42)).toMatchObject({ title: 'Chess Club' });
      expect(await app.store.group(43)).toMatchObject({ title: 'Go Club' });
    });

    it('a node of a third bundle is still ignored', async () => {
      expectAnswer(await post(drupalFixture('node-article-update')), 'ignored');
      await expectNothingStored(app);
    });

    it('memberships of a club are synced', async () => {
      const delivery = drupalFixture('og-membership-create');
      delivery.entity.entity_bundle = [{ value: 'club' }];
      delivery.entity.entity_id = [{ value: '43' }];
      await deliver(delivery);
      expect(await app.store.members(43)).toEqual([expect.objectContaining({ uid: 9, state: 'pending' })]);
    });
  });
});
