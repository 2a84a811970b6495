// Groups, ACL role, entity role and ACL end to end, as CONTRACT.md says they are made.
import { afterEach, describe, expect, it } from 'vitest';
import { ogGroups, statusesOf } from './support/civicrm-view.js';
import { startRig, type Rig, type RigOptions } from './support/sync.js';

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

async function started(options: RigOptions = {}): Promise<Rig> {
  rig = await startRig(options);
  return rig;
}

const at = (minute: number) => new Date(Date.UTC(2026, 10, 24, 10, minute)).toISOString();
const admin = (uid: number) => ({ group_id: 42, user: { id: uid, email: `u${uid}@example.org` }, state: 'active', is_admin: true });

function expectFullChain(r: Rig, title: string, objectTable = 'civicrm_group') {
  const { member, acl, role, entityRoles, acls } = ogGroups(r.emulator, 42);
  expect(member).toMatchObject({ title, source: 'OG Sync Group :42:', group_type: [2], is_active: true });
  expect(member!.name.length).toBeLessThanOrEqual(64);
  expect(acl).toMatchObject({ title: `${title}: Administrator`, source: 'OG Sync Group ACL :42:', group_type: [1], is_active: true });
  expect(role).toMatchObject({ label: `${title}: Administrator`, description: 'OG Sync Group ACL :42:', is_active: true });
  expect(entityRoles).toEqual([
    expect.objectContaining({ acl_role_id: Number(role!.value), entity_table: 'civicrm_group', entity_id: acl!.id, is_active: true }),
  ]);
  expect(acls).toEqual([
    expect.objectContaining({
      operation: 'Edit',
      entity_table: 'civicrm_acl_role',
      entity_id: Number(role!.value),
      object_table: objectTable,
      object_id: member!.id,
      is_active: true,
    }),
  ]);
}

describe('group creation', () => {
  it('makes the member group, ACL group, role, entity role and ACL', async () => {
    const r = await started();
    await r.send('og.group.created', { group: { id: 42, title: 'Chess Club', description: 'Tuesday nights' } }, at(0));
    await r.settle();
    expectFullChain(r, 'Chess Club');
    expect(ogGroups(r.emulator, 42).member!.description).toBe('Tuesday nights');
  });

  it('makes groups of the right types on a CiviCRM older than 4.7.16, which misreads a group_type list', async () => {
    const r = await started({ emulator: { version: '4.7.15' } });
    await r.send('og.group.created', { group: { id: 42, title: 'Chess Club' } }, at(0));
    await r.send('og.membership.created', admin(7), at(1));
    await r.settle();
    expectFullChain(r, 'Chess Club', 'civicrm_saved_search');
    expect(statusesOf(r.emulator, 42, 7)).toEqual({ member: 'Added', acl: 'Added' });
  });

  it('points the ACL at civicrm_saved_search before CiviCRM 5.64', async () => {
    const r = await started({ emulator: { version: '5.63.2' } });
    await r.send('og.group.created', { group: { id: 42, title: 'Chess Club' } }, at(0));
    await r.settle();
    expectFullChain(r, 'Chess Club', 'civicrm_saved_search');
  });

  it('works with authx headers and with the legacy extern/rest.php endpoint', async () => {
    for (const options of [{ env: { CIVICRM_AUTH: 'authx' } }, { legacyUrl: true }]) {
      const r = await started(options);
      await r.send('og.group.created', { group: { id: 42, title: 'Chess Club' } }, at(0));
      await r.send('og.membership.created', admin(7), at(1));
      await r.settle();
      expectFullChain(r, 'Chess Club');
      expect(statusesOf(r.emulator, 42, 7)).toEqual({ member: 'Added', acl: 'Added' });
      await r.close();
      rig = undefined;
    }
  });

  it('keeps long titles within 255 characters and names within 64', async () => {
    const r = await started();
    const title = 'A very long group title '.repeat(12);
    await r.send('og.group.created', { group: { id: 42, title } }, at(0));
    await r.settle();
    const { member, acl } = ogGroups(r.emulator, 42);
    expect(member!.title).toBe(title.trim().slice(0, 255).trimEnd());
    expect(acl!.title.length).toBeLessThanOrEqual(255);
    expect(acl!.title.endsWith(': Administrator')).toBe(true);
    expect(member!.name.length).toBeLessThanOrEqual(64);
  });
});

describe('rename', () => {
  it('renames both groups and the role, keeps every id, and leaks no ACL rows', async () => {
    const r = await started();
    await r.send('og.group.created', { group: { id: 42, title: 'Chess Club' } }, at(0));
    await r.settle();
    const before = ogGroups(r.emulator, 42);
    for (const [minute, title] of [[1, 'Chess & Go Club'], [2, 'Board Games']] as const) {
      await r.send('og.group.updated', { group: { id: 42, title } }, at(minute));
      await r.settle();
    }
    const after = ogGroups(r.emulator, 42);
    expect([after.member!.id, after.acl!.id, after.role!.id]).toEqual([before.member!.id, before.acl!.id, before.role!.id]);
    expectFullChain(r, 'Board Games');
    expect(r.emulator.db.aclEntityRoles.all()).toHaveLength(1);
    expect(r.emulator.db.acls.all()).toHaveLength(1);
  });

  it('an older rename arriving late does not win', async () => {
    const r = await started();
    await r.send('og.group.created', { group: { id: 42, title: 'Chess Club' } }, at(0));
    await r.send('og.group.updated', { group: { id: 42, title: 'Newest' } }, at(5));
    await r.send('og.group.updated', { group: { id: 42, title: 'Stale' } }, at(3));
    await r.settle();
    expect(ogGroups(r.emulator, 42).member!.title).toBe('Newest');
  });
});

describe('ON_GROUP_DELETE', () => {
  async function deletedUnder(mode: string) {
    const r = await started({ env: { ON_GROUP_DELETE: mode } });
    await r.send('og.group.created', { group: { id: 42, title: 'Chess Club' } }, at(0));
    await r.send('og.membership.created', admin(7), at(1));
    await r.settle();
    const before = ogGroups(r.emulator, 42);
    await r.send('og.group.deleted', { group: { id: 42 } }, at(2));
    await r.settle();
    return { r, before, after: ogGroups(r.emulator, 42) };
  }

  it('disable: both groups inactive, the ACL removed', async () => {
    const { r, after } = await deletedUnder('disable');
    expect(after.member!.is_active).toBe(false);
    expect(after.acl!.is_active).toBe(false);
    expect(r.emulator.db.acls.all()).toHaveLength(0);
  });

  it('delete: both groups and every ACL row deleted', async () => {
    const { r, before, after } = await deletedUnder('delete');
    expect(after.member).toBeUndefined();
    expect(after.acl).toBeUndefined();
    expect(after.role).toBeUndefined();
    expect(r.emulator.db.acls.all()).toHaveLength(0);
    expect(r.emulator.db.aclEntityRoles.all()).toHaveLength(0);
    expect(r.emulator.db.groupContacts.all().filter((gc) => gc.group_id === before.member!.id)).toHaveLength(0);
  });

  it('keep: groups untouched, only the ACL removed', async () => {
    const { r, before, after } = await deletedUnder('keep');
    expect(after.member).toEqual(before.member);
    expect(after.acl).toEqual(before.acl);
    expect(r.emulator.db.acls.all()).toHaveLength(0);
  });

  it('disable: membership changes made while the group was deleted reach CiviCRM when it comes back', async () => {
    const { r } = await deletedUnder('disable');
    await r.send('og.membership.updated', { ...admin(7), state: 'blocked' }, at(3));
    await r.send('og.membership.created', admin(8), at(3));
    await r.settle();
    await r.send('og.group.updated', { group: { id: 42, title: 'Chess Club' } }, at(4));
    await r.settle();
    expect(ogGroups(r.emulator, 42).member!.is_active).toBe(true);
    expect(statusesOf(r.emulator, 42, 7)).toEqual({ member: 'Removed', acl: 'Removed' });
    expect(statusesOf(r.emulator, 42, 8)).toEqual({ member: 'Added', acl: 'Added' });
    expectFullChain(r, 'Chess Club');
  });

  it('delete: groups made again hold the members and admins once more', async () => {
    const { r } = await deletedUnder('delete');
    await r.send('og.group.created', { group: { id: 42, title: 'Chess Club' } }, at(3));
    await r.settle();
    expect(statusesOf(r.emulator, 42, 7)).toEqual({ member: 'Added', acl: 'Added' });
  });

  it('a group created again after a delete comes back with its ACL', async () => {
    const { r } = await deletedUnder('delete');
    await r.send('og.group.created', { group: { id: 42, title: 'Chess Club' } }, at(3));
    await r.settle();
    expectFullChain(r, 'Chess Club');
  });
});

describe('groups made by others', () => {
  it('adopts the groups CiviCRM’s old OG sync module made, by source', async () => {
    const r = await started();
    const db = r.emulator.db;
    const member = db.addGroup({ title: 'Chess Club', name: 'Chess_Club', source: 'OG Sync Group :42:', group_type: [2] });
    const acl = db.addGroup({ title: 'Chess Club: Administrator', name: 'Chess_Club_Admin', source: 'OG Sync Group ACL :42:', group_type: [1] });
    await r.send('og.group.created', { group: { id: 42, title: 'Chess Club' } }, at(0));
    await r.settle();
    const found = ogGroups(r.emulator, 42);
    expect([found.member!.id, found.acl!.id]).toEqual([member, acl]);
    expect(db.groups.all()).toHaveLength(2);
    expectFullChain(r, 'Chess Club');
  });

  it('learns the rows the old module left: a demoted admin leaves its ACL group, contacts OG does not list stay', async () => {
    const r = await started();
    const db = r.emulator.db;
    const member = db.addGroup({ title: 'Chess Club', source: 'OG Sync Group :42:', group_type: [2] });
    const acl = db.addGroup({ title: 'Chess Club: Administrator', source: 'OG Sync Group ACL :42:', group_type: [1] });
    const demoted = db.addContact({ email: 'u7@example.org' });
    db.addUFMatch(7, demoted, 'u7@example.org');
    const unlisted = db.addContact({ email: 'someone@example.org' });
    for (const contact of [demoted, unlisted]) {
      db.addGroupContact(member, contact);
      db.addGroupContact(acl, contact);
    }
    await r.send('og.membership.created', { ...admin(7), is_admin: false }, at(1));
    await r.settle();
    expect(statusesOf(r.emulator, 42, 7)).toEqual({ member: 'Added', acl: 'Removed' });
    expect([db.groupContactStatus(member, unlisted), db.groupContactStatus(acl, unlisted)]).toEqual(['Added', 'Added']);
  });

  it('keeps the titles of adopted groups when a membership comes before any group event', async () => {
    const r = await started();
    const db = r.emulator.db;
    db.addGroup({ title: 'Chess Club', source: 'OG Sync Group :42:', group_type: [2] });
    db.addGroup({ title: 'Chess Club: Administrator', source: 'OG Sync Group ACL :42:', group_type: [1] });
    await r.send('og.membership.created', admin(7), at(1));
    await r.settle();
    expectFullChain(r, 'Chess Club');
    expect(statusesOf(r.emulator, 42, 7)).toEqual({ member: 'Added', acl: 'Added' });
  });

  it('never takes over a group found only by title; its own groups get the (OG N) suffix', async () => {
    const r = await started();
    const db = r.emulator.db;
    const theirs = db.addGroup({ title: 'chess club', source: 'Manual import', group_type: [2] });
    const before = db.groups.get(theirs);
    await r.send('og.group.created', { group: { id: 42, title: 'Chess Club' } }, at(0));
    await r.send('og.membership.created', admin(7), at(1));
    await r.settle();
    expect(db.groups.get(theirs)).toEqual(before);
    expect(db.groupContacts.all().filter((gc) => gc.group_id === theirs)).toHaveLength(0);
    expectFullChain(r, 'Chess Club (OG 42)');
  });
});
