import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { translateDrupalDelivery, type DrupalTranslation } from '../src/events/drupal.js';

// Payloads as Drupal 10 + webhooks + OG 8.x-1.x post them: `{"event", "user", "entity"}`, both
// entities in the serializer module's default normalization.
type Entity = Record<string, unknown>;
interface Delivery { event: string; user?: Entity; entity: Entity }

const fixture = (name: string): Delivery =>
  JSON.parse(readFileSync(new URL(`./fixtures/drupal/${name}.json`, import.meta.url), 'utf8')) as Delivery;

const GROUP_BUNDLES: ReadonlySet<string> = new Set(['group']);

const translate = (delivery: Delivery, bundles = GROUP_BUNDLES, header = delivery.event): DrupalTranslation =>
  translateDrupalDelivery(header, delivery, bundles);

function expectInvalid(result: DrupalTranslation, detail: RegExp): void {
  expect(result.kind).toBe('invalid');
  if (result.kind === 'invalid') expect(result.detail).toMatch(detail);
}

function expectIgnored(result: DrupalTranslation, reason: RegExp): void {
  expect(result.kind).toBe('ignored');
  if (result.kind === 'ignored') expect(result.reason).toMatch(reason);
}

const at = (iso: string): number => Date.parse(iso);

describe('group nodes', () => {
  it('translates a Drupal 10 group node create, with the creator as the owner', () => {
    expect(translate(fixture('node-group-create'))).toEqual({
      kind: 'event',
      occurredAt: at('2026-11-24T10:00:00Z'),
      change: {
        type: 'og.group.created',
        group: {
          id: 42,
          title: 'Chess Club',
          description: 'We meet every Tuesday at 7 pm.\nBeginners & experts welcome — bring a board!',
          owner: { id: 7, email: 'ann@example.org', firstName: 'Ann', lastName: 'Lee' },
        },
      },
    });
  });

  it("ignores the save of a node's translation: the group keeps its default language's title", () => {
    expectIgnored(translate(fixture('node-group-update-translation')), /"fr" translation/);
    // An older Drupal writes the flag as a string.
    const legacy = fixture('node-group-update-translation');
    legacy.entity.default_langcode = [{ value: '0' }];
    expectIgnored(translate(legacy), /translation/);
    const original = fixture('node-group-update-translation');
    original.entity.default_langcode = [{ value: true }];
    expect(translate(original)).toMatchObject({ kind: 'event', change: { type: 'og.group.updated', group: { title: "Club d'échecs" } } });
  });

  it('translates an update from an older Drupal: ids as strings, changed as Unix seconds', () => {
    // The acting admin (uid 1) is not the owner (uid 7): the owner is known by id only.
    expect(translate(fixture('node-group-update-legacy'))).toEqual({
      kind: 'event',
      occurredAt: 1_732_442_400_000,
      change: {
        type: 'og.group.updated',
        group: { id: 42, title: 'Chess & Go Club', description: 'Chess and Go.', owner: { id: 7 } },
      },
    });
  });

  it('accepts changed as an integer of Unix seconds', () => {
    const delivery = fixture('node-group-create');
    delivery.entity.changed = [{ value: 1_732_442_400 }];
    expect(translate(delivery)).toMatchObject({ kind: 'event', occurredAt: 1_732_442_400_000 });
  });

  it('honours the offset of an RFC 3339 changed value', () => {
    const delivery = fixture('node-group-create');
    delivery.entity.changed = [{ value: '2026-11-24T11:00:00+01:00', format: 'Y-m-d\\TH:i:sP' }];
    expect(translate(delivery)).toMatchObject({ occurredAt: at('2026-11-24T10:00:00Z') });
  });

  it('leaves occurredAt out when the node has no changed value', () => {
    const delivery = fixture('node-group-create');
    delete delivery.entity.changed;
    const result = translate(delivery);
    expect(result.kind).toBe('event');
    expect(result).not.toHaveProperty('occurredAt');
  });

  it.each([['yesterday'], [''], [-5], [0], [{ when: 'now' }]])('refuses a changed value of %j', (value) => {
    const delivery = fixture('node-group-create');
    delivery.entity.changed = [{ value }];
    expectInvalid(translate(delivery), /changed\[0\]\.value is not a time/);
  });

  it('uses any configured group bundle', () => {
    const delivery = fixture('node-group-create');
    delivery.entity.type = [{ target_id: 'club', target_type: 'node_type', target_uuid: 'c3d4e5f6-0000-4000-8000-000000000001' }];
    expect(translate(delivery, new Set(['group', 'club']))).toMatchObject({ kind: 'event', change: { type: 'og.group.created' } });
    expectIgnored(translate(delivery), /"club"/);
  });

  it('ignores a node of a bundle that is not a group, naming the bundle', () => {
    expectIgnored(translate(fixture('node-article-update')), /node bundle "article" is not an OG group bundle/);
  });

  it('says the group has no owner for a node reassigned to the anonymous user (uid 0)', () => {
    for (const target_id of [0, '0']) {
      const delivery = fixture('node-group-create');
      delivery.entity.uid = [{ target_id, target_type: 'user', target_uuid: 'a0000000-0000-4000-8000-000000000000' }];
      expect(translate(delivery)).toMatchObject({ kind: 'event', change: { group: { id: 42, owner: null } } });
    }
  });

  it('leaves the owner out when the node has no uid field', () => {
    const delivery = fixture('node-group-create');
    delete delivery.entity.uid;
    const result = translate(delivery);
    expect(result).toMatchObject({ kind: 'event', change: { group: { id: 42, title: 'Chess Club' } } });
    if (result.kind === 'event' && result.change.type === 'og.group.created') expect(result.change.group).not.toHaveProperty('owner');
  });

  it('refuses an owner id that is not an integer', () => {
    const delivery = fixture('node-group-create');
    delivery.entity.uid = [{ target_id: 'ann', target_type: 'user' }];
    expectInvalid(translate(delivery), /uid\[0\]\.target_id must be a positive integer/);
  });

  it('does not use the actor details for an owner who is someone else', () => {
    const delivery = fixture('node-group-create');
    delivery.user = { ...delivery.user, uid: [{ value: 8 }] };
    const result = translate(delivery);
    if (result.kind === 'event' && result.change.type === 'og.group.created') expect(result.change.group.owner).toEqual({ id: 7 });
    else expect.unreachable();
  });

  it('refuses a group node without a title or a type', () => {
    const untitled = fixture('node-group-create');
    untitled.entity.title = [{ value: '   ' }];
    expectInvalid(translate(untitled), /entity:node:create: the node has no title/);

    const untyped = fixture('node-group-create');
    delete untyped.entity.type;
    expectInvalid(translate(untyped), /the node has no type/);
  });

  it.each([
    ['missing', undefined],
    ['zero', 0],
    ['negative', -42],
    ['fractional', 4.2],
    ['a non-numeric string', '42abc'],
    ['a zero-padded string', '042'],
    ['an unsafe integer', 2 ** 53],
    ['an unsafe integer string', '9007199254740993'],
    ['a boolean', true],
  ])('refuses a nid that is %s', (_label, value) => {
    const delivery = fixture('node-group-create');
    delivery.entity.nid = value === undefined ? [] : [{ value }];
    expectInvalid(translate(delivery), /nid\[0\]\.value must be a positive integer/);
  });

  it('leaves out a description when there is no body text', () => {
    for (const body of [[], [{ value: '<p>&nbsp;</p>\n<p> </p>', format: 'basic_html', summary: '' }]]) {
      const delivery = fixture('node-group-create');
      delivery.entity.body = body;
      const result = translate(delivery);
      expect(result.kind).toBe('event');
      if (result.kind === 'event' && result.change.type === 'og.group.created') expect(result.change.group).not.toHaveProperty('description');
    }
  });
});

describe('the description: plain text of the body (test/html-text.test.ts has the details)', () => {
  const describeBody = (html: string): string | undefined => {
    const delivery = fixture('node-group-create');
    delivery.entity.body = [{ value: html, format: 'full_html', summary: '' }];
    const result = translate(delivery);
    return result.kind === 'event' && result.change.type === 'og.group.created' ? result.change.group.description : 'not an event';
  };

  it('is the text of the HTML, one line per block', () => {
    expect(describeBody('<h2>About</h2><p>Tom&#39;s &lt;club&gt;<script>alert(1)</script></p>')).toBe("About\nTom's <club>");
  });

  it('is cut to the 65,535 bytes CiviCRM stores', () => {
    expect(Buffer.byteLength(describeBody(`<p>${'é'.repeat(40_000)}</p>`)!, 'utf8')).toBe(65_534);
  });
});

describe('deleted group nodes', () => {
  it('translates the delete of a group node, dated no earlier than its last edit', () => {
    const result = translate(fixture('node-group-delete'));
    // `changed` of a deleted node dates its last edit, not the deletion: the receipt dates it when later.
    expect(result).toEqual({ kind: 'event', change: { type: 'og.group.deleted', groupId: 42 }, after: at('2026-11-25T08:15:00Z') });
  });

  it('handles a partial delete payload that still names the bundle', () => {
    const delivery: Delivery = {
      event: 'entity:node:delete',
      entity: { nid: [{ value: '42' }], type: [{ target_id: 'group' }] },
    };
    expect(translate(delivery)).toEqual({ kind: 'event', change: { type: 'og.group.deleted', groupId: 42 } });
  });

  it('ignores a delete payload without a bundle: it cannot be told to be a group', () => {
    expectIgnored(translate({ event: 'entity:node:delete', entity: { nid: [{ value: 42 }] } }), /no bundle/);
  });

  it('ignores the delete of a node of another bundle', () => {
    const delivery = fixture('node-article-update');
    delivery.event = 'entity:node:delete';
    expectIgnored(translate(delivery), /"article"/);
  });

  it('refuses the delete of a group node without a usable nid', () => {
    const delivery = fixture('node-group-delete');
    delivery.entity.nid = [{ value: 'forty-two' }];
    expectInvalid(translate(delivery), /entity:node:delete: nid\[0\]\.value must be a positive integer, got "forty-two"/);
  });
});

describe('OG memberships', () => {
  it('translates a self-subscription, taking the member details from the acting user', () => {
    expect(translate(fixture('og-membership-create'))).toEqual({
      kind: 'event',
      change: {
        type: 'og.membership.created',
        groupId: 42,
        // The mail is trimmed; the empty last name is left out.
        member: { user: { id: 9, email: 'bo.schmidt@example.net', firstName: 'Bo' }, state: 'pending', isAdmin: false },
      },
    });
  });

  it('translates a role change by a group admin: the member is known by id only', () => {
    expect(translate(fixture('og-membership-update-admin'))).toEqual({
      kind: 'event',
      change: {
        type: 'og.membership.updated',
        groupId: 42,
        member: { user: { id: 9 }, state: 'active', isAdmin: true },
      },
    });
  });

  it('translates an unsubscription', () => {
    expect(translate(fixture('og-membership-delete'))).toEqual({
      kind: 'event',
      change: { type: 'og.membership.deleted', groupId: 42, userId: 9 },
    });
  });

  it('dates no membership change: creates, updates and deletes all go by the time of receipt', () => {
    for (const name of ['og-membership-create', 'og-membership-update-admin', 'og-membership-delete']) {
      expect(translate(fixture(name))).not.toHaveProperty('occurredAt');
    }
    const delivery = fixture('og-membership-create');
    delivery.entity.created = [{ value: 'not a time' }];
    expect(translate(delivery)).toMatchObject({ kind: 'event' });
  });

  it.each([
    [[{ target_id: 'node-group-administrator', target_type: 'og_role' }], true],
    [[{ target_id: 'node-club-administrator' }, { target_id: 'node-club-editor' }], true],
    [[{ target_id: 'node-group-moderator' }], false],
    [[{ target_id: 'node-group-administrator member' }], false],
    [[{ target_id: 42 }], false],
    [[], false],
    [undefined, false],
  ])('roles %j make the member an admin: %s', (roles, isAdmin) => {
    const delivery = fixture('og-membership-update-admin');
    if (roles === undefined) delete delivery.entity.roles;
    else delivery.entity.roles = roles;
    expect(translate(delivery)).toMatchObject({ change: { member: { isAdmin } } });
  });

  it.each([
    [[{ value: 'blocked' }], 'blocked'],
    [[{ value: 'pending' }], 'pending'],
    [[{ value: '' }], 'active'],
    [[], 'active'],
    [undefined, 'active'],
  ])('reads state %j as %s', (state, expected) => {
    const delivery = fixture('og-membership-update-admin');
    if (state === undefined) delete delivery.entity.state;
    else delivery.entity.state = state;
    expect(translate(delivery)).toMatchObject({ change: { member: { state: expected } } });
  });

  it('refuses an unknown membership state', () => {
    const delivery = fixture('og-membership-update-admin');
    delivery.entity.state = [{ value: 'archived' }];
    expectInvalid(translate(delivery), /unknown membership state "archived"/);
  });

  it('accepts the group id as a number or as target_id', () => {
    const numeric = fixture('og-membership-delete');
    numeric.entity.entity_id = [{ value: 42 }];
    expect(translate(numeric)).toMatchObject({ change: { groupId: 42 } });

    const reference = fixture('og-membership-delete');
    reference.entity.entity_id = [{ target_id: '42' }];
    expect(translate(reference)).toMatchObject({ change: { groupId: 42 } });
  });

  it('accepts the member uid as a numeric string, also when matching the actor', () => {
    const delivery = fixture('og-membership-create');
    delivery.entity.uid = [{ target_id: '9', target_type: 'user' }];
    delivery.user = { ...delivery.user, uid: [{ value: '9' }] };
    expect(translate(delivery)).toMatchObject({ change: { member: { user: { id: 9, email: 'bo.schmidt@example.net' } } } });
  });

  it('takes only the id when there is no acting user or it has no usable mail', () => {
    const anonymous = fixture('og-membership-create');
    delete anonymous.user;
    expect(translate(anonymous)).toMatchObject({ change: { member: { user: { id: 9 } } } });

    const noMail = fixture('og-membership-create');
    noMail.user = { uid: [{ value: 9 }], mail: [{ value: 'not-an-address' }] };
    const result = translate(noMail);
    if (result.kind === 'event' && result.change.type === 'og.membership.created') expect(result.change.member.user).toEqual({ id: 9 });
    else expect.unreachable();
  });

  it('ignores a membership of a group that is not a node', () => {
    const delivery = fixture('og-membership-create');
    delivery.entity.entity_type = [{ value: 'taxonomy_term' }];
    delivery.entity.entity_bundle = [{ value: 'tags' }];
    expectIgnored(translate(delivery), /"taxonomy_term"/);
  });

  it('ignores a membership of a node bundle that is not a group bundle', () => {
    const delivery = fixture('og-membership-create');
    delivery.entity.entity_bundle = [{ value: 'club' }];
    expectIgnored(translate(delivery), /node bundle "club"/);
    expect(translate(delivery, new Set(['club']))).toMatchObject({ kind: 'event' });
  });

  it('does without entity_bundle', () => {
    const delivery = fixture('og-membership-delete');
    delete delivery.entity.entity_bundle;
    expect(translate(delivery)).toMatchObject({ kind: 'event', change: { type: 'og.membership.deleted' } });
  });

  it.each([
    ['uid', [], /uid\[0\]\.target_id must be a positive integer, got nothing/],
    ['uid', [{ target_id: 0, target_type: 'user' }], /uid\[0\]\.target_id must be a positive integer, got 0/],
    ['entity_id', [], /entity_id\[0\]\.target_id must be a positive integer/],
    ['entity_id', [{ value: 'abc' }], /entity_id\[0\]\.value must be a positive integer, got "abc"/],
    ['entity_type', [], /the membership has no entity_type/],
  ])('refuses a membership whose %s is %j', (field, value, detail) => {
    for (const name of ['og-membership-create', 'og-membership-update-admin', 'og-membership-delete']) {
      const delivery = fixture(name);
      delivery.entity[field] = value;
      expectInvalid(translate(delivery), detail);
    }
  });
});

describe('deliveries of no use', () => {
  it.each([
    ['entity:user:update'],
    ['entity:comment:create'],
    ['entity:taxonomy_term:delete'],
    ['entity:og_role:update'],
  ])('ignores %s', (event) => {
    expectIgnored(translate({ event, entity: { id: [{ value: 1 }] } }), /is not synced/);
  });

  it.each([['system:cron'], ['system:user_login'], ['entity:node:presave'], ['node:create']])('ignores event %s', (event) => {
    // System events carry no entity at all, and still are validly signed.
    expectIgnored(translateDrupalDelivery(event, { event }, GROUP_BUNDLES), /is not an entity create, update or delete/);
  });
});

describe('malformed deliveries', () => {
  it.each([[null], [[]], ['entity:node:create'], [42], [undefined]])('refuses a body of %j', (body) => {
    expectInvalid(translateDrupalDelivery('entity:node:create', body, GROUP_BUNDLES), /must be a JSON object/);
  });

  it.each([[undefined], [null], [[]], ['node']])('refuses a node event whose entity is %j', (entity) => {
    expectInvalid(translateDrupalDelivery('entity:node:create', { event: 'entity:node:create', entity }, GROUP_BUNDLES), /no "entity" object/);
  });

  it('refuses a header that contradicts the signed event of the body', () => {
    expectInvalid(translate(fixture('node-group-create'), GROUP_BUNDLES, 'entity:node:delete'), /does not match/);
  });

  it('takes the event from the body when the header is missing, and trims the header', () => {
    expect(translate(fixture('og-membership-delete'), GROUP_BUNDLES, '')).toMatchObject({ kind: 'event' });
    expect(translate(fixture('og-membership-delete'), GROUP_BUNDLES, ' entity:og_membership:delete ')).toMatchObject({ kind: 'event' });
  });

  it('takes the event from the header when the body has none', () => {
    const { entity } = fixture('node-group-create');
    expect(translateDrupalDelivery('entity:node:update', { entity }, GROUP_BUNDLES)).toMatchObject({
      kind: 'event',
      change: { type: 'og.group.updated' },
    });
    expectInvalid(translateDrupalDelivery('', { entity }, GROUP_BUNDLES), /no X-Drupal-Event/);
  });
});

it('does not modify the delivery it reads', () => {
  for (const name of ['node-group-create', 'og-membership-update-admin']) {
    const delivery = fixture(name);
    translate(delivery);
    expect(delivery).toEqual(fixture(name));
  }
});
