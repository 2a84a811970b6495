// Memberships end to end: signed webhooks in, CiviCRM GroupContact rows out, over real HTTP.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { contactOf, ogGroups, statusesOf } from './support/civicrm-view.js';
import { startRig, type Rig } from './support/sync.js';
import { waitFor } from './support/wait.js';

let rig: Rig;
beforeEach(async () => {
  rig = await startRig();
});
afterEach(async () => {
  await rig.close();
});

const at = (minute: number) => new Date(Date.UTC(2026, 10, 24, 10, minute)).toISOString();
const user = (id: number) => ({ id, email: `user${id}@example.org`, first_name: `First${id}`, last_name: `Last${id}` });
const membership = (uid: number, state: string, isAdmin: boolean) => ({ group_id: 42, user: user(uid), state, is_admin: isAdmin });

async function chessClub() {
  expect((await rig.send('og.group.created', { group: { id: 42, title: 'Chess Club' } }, at(0))).status).toBe(202);
}

describe('the membership table', () => {
  const rows: Array<[string, string, boolean, { member?: string; acl?: string }]> = [
    ['active admin', 'active', true, { member: 'Added', acl: 'Added' }],
    ['active member', 'active', false, { member: 'Added', acl: undefined }],
    ['pending', 'pending', false, { member: 'Pending', acl: undefined }],
    ['pending admin', 'pending', true, { member: 'Pending', acl: undefined }],
    ['blocked', 'blocked', false, { member: 'Removed', acl: undefined }],
    ['blocked admin', 'blocked', true, { member: 'Removed', acl: undefined }],
  ];
  for (const [name, state, isAdmin, expected] of rows) {
    it(`${name} → member group ${expected.member}, ACL group ${expected.acl ?? 'no row'}`, async () => {
      await chessClub();
      await rig.send('og.membership.created', membership(7, state, isAdmin), at(1));
      await rig.settle();
      expect(statusesOf(rig.emulator, 42, 7)).toEqual(expected);
    });
  }

  it('a deleted membership is Removed from the member group and the ACL group', async () => {
    await chessClub();
    await rig.send('og.membership.created', membership(7, 'active', true), at(1));
    await rig.settle();
    await rig.send('og.membership.deleted', { group_id: 42, user: { id: 7 } }, at(2));
    await rig.settle();
    expect(statusesOf(rig.emulator, 42, 7)).toEqual({ member: 'Removed', acl: 'Removed' });
  });

  it('an admin who loses the role leaves the ACL group at once but stays a member', async () => {
    await chessClub();
    await rig.send('og.membership.created', membership(7, 'active', true), at(1));
    await rig.settle();
    await rig.send('og.membership.updated', membership(7, 'active', false), at(2));
    await rig.settle();
    expect(statusesOf(rig.emulator, 42, 7)).toEqual({ member: 'Added', acl: 'Removed' });
  });

  it('a blocked admin loses the ACL group too', async () => {
    await chessClub();
    await rig.send('og.membership.created', membership(7, 'active', true), at(1));
    await rig.settle();
    await rig.send('og.membership.updated', membership(7, 'blocked', true), at(2));
    await rig.settle();
    expect(statusesOf(rig.emulator, 42, 7)).toEqual({ member: 'Removed', acl: 'Removed' });
  });

  it('the group owner is an active admin', async () => {
    await rig.send('og.group.created', { group: { id: 42, title: 'Chess Club', owner: user(1) } }, at(0));
    await rig.settle();
    expect(statusesOf(rig.emulator, 42, 1)).toEqual({ member: 'Added', acl: 'Added' });
  });

  it('a group that changes hands: the old owner keeps their own membership and leaves the ACL group', async () => {
    // As Drupal sends it: the node, then the membership OG makes for its owner (no role).
    await rig.send('og.group.created', { group: { id: 42, title: 'Chess Club', owner: user(1) } }, at(0));
    await rig.send('og.membership.created', membership(1, 'active', false), at(1));
    await rig.send('og.group.updated', { group: { id: 42, title: 'Chess Club', owner: user(1) } }, at(2));
    await rig.settle();
    expect(statusesOf(rig.emulator, 42, 1)).toEqual({ member: 'Added', acl: 'Added' });
    await rig.send('og.group.updated', { group: { id: 42, title: 'Chess Club', owner: user(2) } }, at(3));
    await rig.settle();
    expect(statusesOf(rig.emulator, 42, 1)).toEqual({ member: 'Added', acl: 'Removed' });
    expect(statusesOf(rig.emulator, 42, 2)).toEqual({ member: 'Added', acl: 'Added' });
  });
});

describe('contacts', () => {
  it('uses the contact linked by UFMatch, even when another contact has the email', async () => {
    const linked = rig.emulator.db.addContact({ email: 'old-address@example.org', first_name: 'Linked' });
    rig.emulator.db.addUFMatch(7, linked, 'old-address@example.org');
    rig.emulator.db.addContact({ email: 'user7@example.org', first_name: 'Namesake' });
    await chessClub();
    await rig.send('og.membership.created', membership(7, 'active', false), at(1));
    await rig.settle();
    expect(rig.emulator.db.groupContactStatus(ogGroups(rig.emulator, 42).member!.id, linked)).toBe('Added');
  });

  it('uses the non-deleted contact with the email, the lowest id when several', async () => {
    rig.emulator.db.addContact({ email: 'user7@example.org', is_deleted: true });
    const first = rig.emulator.db.addContact({ email: 'User7@Example.org' });
    const second = rig.emulator.db.addContact({ email: 'user7@example.org' });
    await chessClub();
    await rig.send('og.membership.created', membership(7, 'active', false), at(1));
    await rig.settle();
    const groupId = ogGroups(rig.emulator, 42).member!.id;
    expect(rig.emulator.db.groupContactStatus(groupId, first)).toBe('Added');
    expect(rig.emulator.db.groupContactStatus(groupId, second)).toBeUndefined();
  });

  it('creates an Individual with the email and names, linked by a new UFMatch', async () => {
    await chessClub();
    await rig.send('og.membership.created', membership(7, 'active', false), at(1));
    await rig.settle();
    const contactId = contactOf(rig.emulator, 7)!;
    const contact = rig.emulator.db.contacts.get(contactId)!;
    expect(contact).toMatchObject({ contact_type: 'Individual', first_name: 'First7', last_name: 'Last7' });
    expect(rig.emulator.db.primaryEmail(contactId)?.email).toBe('user7@example.org');
    expect(rig.emulator.db.ufMatchByUfId(7)?.uf_name).toBe('user7@example.org');
  });

  it('a member new to CiviCRM costs three requests: the link and email lookups together, the contact, its group rows', async () => {
    await chessClub();
    await rig.settle();
    rig.emulator.resetLog();
    await rig.send('og.membership.created', membership(7, 'active', false), at(1));
    await rig.settle();
    expect(rig.emulator.requests).toBe(3);
    expect(rig.emulator.calls.slice(0, 2).map((c) => `${c.entity}.${c.action}`)).toEqual(['UFMatch.get', 'Email.get']);
    expect(contactOf(rig.emulator, 7)).toBeDefined();
  });

  it('a contact put in the trash by hand: the contact found next is written into every group of the user, whole', async () => {
    const trashed = rig.emulator.db.addContact({ email: 'user8@example.org' });
    await chessClub();
    await rig.send('og.group.created', { group: { id: 43, title: 'Go Club' } }, at(0));
    await rig.send('og.membership.created', { ...membership(8, 'active', true) }, at(1));
    await rig.send('og.membership.created', { ...membership(8, 'active', false), group_id: 43 }, at(1));
    await rig.settle();
    const { member, acl } = ogGroups(rig.emulator, 42);
    expect([rig.emulator.db.groupContactStatus(member!.id, trashed), rig.emulator.db.groupContactStatus(acl!.id, trashed)]).toEqual(['Added', 'Added']);

    rig.emulator.db.contacts.update(trashed, { is_deleted: true });
    await rig.send('og.membership.updated', membership(8, 'active', false), at(2));
    await rig.settle();
    const next = (await rig.store.users([8])).get(8)?.contactId;
    expect(next).toBeDefined();
    expect(next).not.toBe(trashed);
    const statuses = (ogId: number) => {
      const groups = ogGroups(rig.emulator, ogId);
      return { member: rig.emulator.db.groupContactStatus(groups.member!.id, next!), acl: rig.emulator.db.groupContactStatus(groups.acl!.id, next!) };
    };
    // Both sides in the group of the change, not only the side that changed; and the other group too.
    expect(statuses(42)).toEqual({ member: 'Added', acl: undefined });
    expect(statuses(43)).toEqual({ member: 'Added', acl: undefined });
  });

  it('does not create contacts when CREATE_MISSING_CONTACTS is false: the membership is dead with the reason', async () => {
    await rig.close();
    rig = await startRig({ env: { CREATE_MISSING_CONTACTS: 'false' } });
    await chessClub();
    await rig.send('og.membership.created', membership(7, 'active', false), at(1));
    const dead = await waitFor(async () => {
      const { body } = await rig.admin('GET', '/admin/events?status=dead');
      return (body.events as Array<{ last_error: string }>)[0];
    }, 'a dead event');
    expect(dead.last_error).toMatch(/no CiviCRM contact for Drupal user 7.*CREATE_MISSING_CONTACTS/);
    expect(rig.emulator.db.contacts.all().filter((c) => c.first_name === 'First7')).toHaveLength(0);
  });

  it('a user with no contact and no email is dead with the reason, and the other members go on', async () => {
    await chessClub();
    await rig.send('og.membership.created', { group_id: 42, user: { id: 9 }, state: 'active', is_admin: false }, at(1));
    await rig.send('og.membership.created', membership(7, 'active', false), at(1));
    await rig.settle();
    const { body } = await rig.admin('GET', '/admin/events?status=dead');
    const events = body.events as Array<{ last_error: string; type: string }>;
    expect(events).toHaveLength(1);
    expect(events[0]!.last_error).toBe('no CiviCRM contact for Drupal user 9 and no email to create one');
    expect(statusesOf(rig.emulator, 42, 7).member).toBe('Added');
  });
});

describe('delivery order and repetition', () => {
  it('an older update arriving after a newer one changes nothing', async () => {
    await chessClub();
    await rig.send('og.membership.updated', membership(7, 'blocked', false), at(5));
    await rig.send('og.membership.created', membership(7, 'active', true), at(1));
    await rig.settle();
    expect(statusesOf(rig.emulator, 42, 7)).toEqual({ member: 'Removed', acl: undefined });
  });

  it('a duplicate delivery is answered duplicate and writes nothing twice', async () => {
    await chessClub();
    const first = await rig.send('og.membership.created', membership(7, 'active', false), at(1), 'evt-dup');
    await rig.settle();
    rig.emulator.resetLog();
    const again = await rig.send('og.membership.created', membership(7, 'active', false), at(1), 'evt-dup');
    await rig.settle();
    expect(first.body.status).toBe('accepted');
    expect(again.body).toEqual({ id: 'evt-dup', status: 'duplicate' });
    expect(rig.emulator.requests).toBe(0);
  });

  it('a membership arriving before its group makes the groups under the placeholder title, renamed later', async () => {
    await rig.send('og.membership.created', membership(7, 'active', true), at(1));
    await rig.settle();
    expect(ogGroups(rig.emulator, 42).member?.title).toBe('OG 42');
    expect(ogGroups(rig.emulator, 42).acl?.title).toBe('OG 42: Administrator');
    const ids = { member: ogGroups(rig.emulator, 42).member!.id, acl: ogGroups(rig.emulator, 42).acl!.id };
    await chessClub();
    await rig.settle();
    const after = ogGroups(rig.emulator, 42);
    expect({ member: after.member!.id, acl: after.acl!.id }).toEqual(ids);
    expect(after.member!.title).toBe('Chess Club');
    expect(after.acl!.title).toBe('Chess Club: Administrator');
    expect(after.role!.label).toBe('Chess Club: Administrator');
    expect(statusesOf(rig.emulator, 42, 7)).toEqual({ member: 'Added', acl: 'Added' });
  });
});

describe('cost in CiviCRM requests', () => {
  /** The group's look (its groups, role, titles, entity roles and ACL) that rides with the members' writes. */
  const GROUP_LOOK = ['Group.get', 'OptionValue.get', 'Group.get', 'AclRole.get', 'Acl.get', 'AclRole.get'];

  it('once group and contact are known, one membership change costs one request, the group looked at in it', async () => {
    await chessClub();
    await rig.send('og.membership.created', membership(7, 'active', false), at(1));
    await rig.settle();
    rig.emulator.resetLog();
    await rig.send('og.membership.updated', membership(7, 'pending', false), at(2));
    await rig.settle();
    expect(rig.emulator.requests).toBe(1);
    // Through the user's UFMatch, so a contact merged in CiviCRM meanwhile is followed.
    expect(rig.emulator.calls.map((c) => `${c.entity}.${c.action}`)).toEqual([...GROUP_LOOK, 'UFMatch.get']);
    expect(rig.emulator.calls.at(-1)!.params['api.GroupContact.create']).toMatchObject({ contact_id: '$value.contact_id', status: 'Pending' });
    expect(statusesOf(rig.emulator, 42, 7)).toMatchObject({ member: 'Pending' });
  });

  it('a burst of changes to one membership costs one call for the final state', async () => {
    await chessClub();
    await rig.send('og.membership.created', membership(7, 'active', false), at(1));
    await rig.settle();
    await rig.sync.worker.stop();
    rig.emulator.resetLog();
    for (const [minute, state] of [[2, 'blocked'], [3, 'active'], [4, 'pending'], [5, 'blocked']] as const) {
      await rig.send('og.membership.updated', membership(7, state, false), at(minute));
    }
    rig.sync.worker.start();
    await rig.settle();
    expect(rig.emulator.requests).toBe(1);
    expect(rig.emulator.calls.map((c) => `${c.entity}.${c.action}`)).toEqual([...GROUP_LOOK, 'UFMatch.get']);
    expect(statusesOf(rig.emulator, 42, 7).member).toBe('Removed');
  });

  it('a new group is made in as few requests as its dependencies allow', async () => {
    await rig.sync.announce();
    rig.emulator.resetLog();
    await chessClub();
    await rig.settle();
    // Read what exists; make both groups and the role; link them with the entity role and ACL.
    expect(rig.emulator.requests).toBe(3);
  });
});
