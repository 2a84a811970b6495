// Drift made by hand in CiviCRM heals on the next sync and never kills an event: groups deleted,
// contacts merged or trashed.
import { afterEach, describe, expect, it } from 'vitest';
import { CiviClient } from '../src/civicrm/client.js';
import { resyncSpacing } from '../src/sync/resync.js';
import { contactOf, ogGroups, statusesOf } from './support/civicrm-view.js';
import { startRig, type Rig } from './support/sync.js';

const at = (minute: number) => new Date(Date.UTC(2026, 10, 24, 10, minute)).toISOString();
const user = (uid: number) => ({ id: uid, email: `u${uid}@example.org` });
const member = (uid: number, state = 'active', isAdmin = false) => ({ group_id: 42, user: user(uid), state, is_admin: isAdmin });

let rig: Rig;
let civi: CiviClient;
const opened: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const resource of opened.splice(0).reverse()) await resource.close();
});

/** The rig, and a CiviCRM client to make changes by hand as a CiviCRM user would. */
async function started(options: Parameters<typeof startRig>[0] = {}): Promise<void> {
  rig = await startRig(options);
  civi = new CiviClient({ url: rig.emulator.restUrl, apiKey: rig.emulator.apiKey, siteKey: rig.emulator.siteKey, auth: 'legacy' });
  opened.push(rig, civi);
}

/** Chess Club with an admin (7) and two members (8, 9), synced. */
async function chessClub(options: Parameters<typeof startRig>[0] = {}): Promise<void> {
  await started(options);
  await rig.send('og.group.created', { group: { id: 42, title: 'Chess Club', owner: user(7) } }, at(0));
  for (const uid of [8, 9]) await rig.send('og.membership.created', member(uid), at(1));
  await rig.settle();
}

/** The group's role labelled `label`, its entity role and ACL whole, and the owner (7) able to edit the member group. */
function expectAclChainWhole(label: string): void {
  const after = ogGroups(rig.emulator, 42);
  expect(after.role).toMatchObject({ label });
  expect(after.entityRoles).toEqual([expect.objectContaining({ acl_role_id: Number(after.role!.value), entity_id: after.acl!.id })]);
  expect(after.acls).toEqual([expect.objectContaining({ entity_id: Number(after.role!.value), object_id: after.member!.id })]);
  expect(rig.emulator.db.aclCache.editableGroups(contactOf(rig.emulator, 7)!)).toEqual([after.member!.id]);
}

async function expectNothingDead(): Promise<void> {
  expect((await rig.admin('GET', '/admin/events?status=dead')).body.events).toEqual([]);
  expect((await rig.admin('GET', '/admin/status')).body).toMatchObject({ dead: 0 });
}

describe('a group deleted by hand in CiviCRM', () => {
  for (const which of ['member', 'acl'] as const) {
    it(`the ${which} group is made again at the next change written to it, with every member, and the ACL follows`, async () => {
      await chessClub();
      const before = ogGroups(rig.emulator, 42);
      await civi.call('Group', 'delete', { id: before[which]!.id });
      await rig.send('og.membership.created', member(10, 'active', which === 'acl'), at(2));
      await rig.settle();

      const after = ogGroups(rig.emulator, 42);
      expect(after[which]!.id).not.toBe(before[which]!.id);
      expect(after.member!.title).toBe('Chess Club');
      for (const uid of [8, 9]) expect(statusesOf(rig.emulator, 42, uid)).toEqual({ member: 'Added', acl: undefined });
      expect(statusesOf(rig.emulator, 42, 10)).toEqual({ member: 'Added', acl: which === 'acl' ? 'Added' : undefined });
      expect(statusesOf(rig.emulator, 42, 7)).toEqual({ member: 'Added', acl: 'Added' });
      expect(after.entityRoles).toEqual([expect.objectContaining({ entity_id: after.acl!.id })]);
      expect(after.acls).toEqual([expect.objectContaining({ object_id: after.member!.id })]);
      expect(rig.emulator.db.aclCache.editableGroups(contactOf(rig.emulator, 7)!)).toEqual([after.member!.id]);
      await expectNothingDead();
    });
  }
});

describe('an ACL role deleted by hand in CiviCRM', () => {
  it('is made again with a new value at the next sync of the group; entity role and ACL follow it', async () => {
    await chessClub();
    const before = ogGroups(rig.emulator, 42);
    await civi.call('OptionValue', 'delete', { id: before.role!.id });
    await rig.send('og.group.updated', { group: { id: 42, title: 'Chess & Go Club', owner: user(7) } }, at(2));
    await rig.settle();
    expectAclChainWhole('Chess & Go Club: Administrator');
    await expectNothingDead();
  });
});

describe('an ACL chain broken by hand in CiviCRM, then a membership event', () => {
  it('a deleted role is made again by the sync of a membership change, looked at in the request of its write', async () => {
    await chessClub();
    const before = ogGroups(rig.emulator, 42);
    await civi.call('OptionValue', 'delete', { id: before.role!.id });
    rig.emulator.resetLog();
    await rig.send('og.membership.updated', member(8, 'pending'), at(2));
    await rig.settle();
    expectAclChainWhole('Chess Club: Administrator');
    expect(statusesOf(rig.emulator, 42, 8)).toEqual({ member: 'Pending', acl: undefined });
    // The look rode with the write; the repair is the group's own sync.
    expect(rig.emulator.calls.filter((c) => c.entity === 'UFMatch')).toHaveLength(1);
    await expectNothingDead();
  });

  it('on the legacy extern/rest.php endpoint too, where each read is a request of its own', async () => {
    await chessClub({ legacyUrl: true });
    const before = ogGroups(rig.emulator, 42);
    await civi.call('OptionValue', 'delete', { id: before.role!.id });
    await rig.send('og.membership.updated', member(8, 'pending'), at(2));
    await rig.settle();
    expectAclChainWhole('Chess Club: Administrator');
    expect(statusesOf(rig.emulator, 42, 8)).toEqual({ member: 'Pending', acl: undefined });
    await expectNothingDead();
  });

  it('a membership event that owes CiviCRM no write still has the group looked at', async () => {
    await chessClub();
    const before = ogGroups(rig.emulator, 42);
    await civi.call('OptionValue', 'delete', { id: before.role!.id });
    // Blocked then active again within one rest: the membership is as CiviCRM has it.
    await rig.sync.worker.stop();
    await rig.send('og.membership.updated', member(8, 'blocked'), at(2));
    await rig.send('og.membership.updated', member(8, 'active'), at(3));
    rig.emulator.resetLog();
    rig.sync.worker.start();
    await rig.settle();
    expect(rig.emulator.calls.filter((c) => c.entity === 'GroupContact' || c.entity === 'UFMatch')).toEqual([]);
    expect(ogGroups(rig.emulator, 42).role).toMatchObject({ label: 'Chess Club: Administrator' });
    await expectNothingDead();
  });

  it('a look that cannot reach CiviCRM fails no membership that owes it no write', async () => {
    await chessClub();
    await rig.sync.worker.stop();
    await rig.send('og.membership.updated', member(8, 'blocked'), at(2));
    await rig.send('og.membership.updated', member(8, 'active'), at(3));
    rig.emulator.faults.failFor(60_000, 'reset');
    rig.sync.client.forgetVersion();
    rig.sync.worker.start();
    await rig.settle();
    expect(await rig.store.members(42)).toContainEqual(expect.objectContaining({ uid: 8, syncState: 'clean', attempts: 0 }));
    rig.emulator.faults.clear();
  });

  it('a deleted ACL and entity role are made again by the sync of a new admin; the admin gets access', async () => {
    await chessClub();
    const before = ogGroups(rig.emulator, 42);
    for (const acl of before.acls) await civi.call('Acl', 'delete', { id: acl.id });
    for (const entityRole of before.entityRoles) await civi.call('AclRole', 'delete', { id: entityRole.id });
    await rig.send('og.membership.created', member(10, 'active', true), at(2));
    await rig.settle();
    expect(ogGroups(rig.emulator, 42).role!.id).toBe(before.role!.id);
    expectAclChainWhole('Chess Club: Administrator');
    expect(statusesOf(rig.emulator, 42, 10)).toEqual({ member: 'Added', acl: 'Added' });
    expect(rig.emulator.db.aclCache.editableGroups(contactOf(rig.emulator, 10)!)).toEqual([ogGroups(rig.emulator, 42).member!.id]);
    await expectNothingDead();
  });
});

describe('a contact merged in CiviCRM', () => {
  it('is followed through its UFMatch in the same request; the trashed contact is never written to', async () => {
    await chessClub();
    const merged = contactOf(rig.emulator, 8)!;
    const kept = rig.emulator.db.addContact({ email: 'u8.other@example.org' });
    rig.emulator.db.mergeContacts(kept, merged);
    const trashedRows = JSON.stringify(rig.emulator.db.by.contactMemberships.get(String(merged)));

    rig.emulator.resetLog();
    await rig.send('og.membership.updated', member(8, 'pending'), at(2));
    await rig.settle();
    expect(rig.emulator.requests).toBe(1);
    expect(contactOf(rig.emulator, 8)).toBe(kept);
    expect(statusesOf(rig.emulator, 42, 8)).toEqual({ member: 'Pending', acl: undefined });
    expect(JSON.stringify(rig.emulator.db.by.contactMemberships.get(String(merged)))).toBe(trashedRows);
    await expectNothingDead();

    // The kept contact is remembered: the next change goes straight to it.
    rig.emulator.resetLog();
    await rig.send('og.membership.updated', member(8, 'active'), at(3));
    await rig.settle();
    expect(rig.emulator.requests).toBe(1);
    expect(statusesOf(rig.emulator, 42, 8)).toEqual({ member: 'Added', acl: undefined });
  });

  it('a reconcile that follows a merge repairs the kept contact by the rows it found there', async () => {
    await chessClub();
    const merged = contactOf(rig.emulator, 8)!;
    // The contact kept was put in the ACL group by hand; 8 is no admin.
    const kept = rig.emulator.db.addContact({ email: 'u8.other@example.org' });
    await civi.call('GroupContact', 'create', { group_id: ogGroups(rig.emulator, 42).acl!.id, contact_id: kept, status: 'Added' });
    rig.emulator.db.mergeContacts(kept, merged);

    expect((await rig.admin('POST', '/admin/groups/42/reconcile')).status).toBe(202);
    await rig.settle();
    expect(contactOf(rig.emulator, 8)).toBe(kept);
    expect(statusesOf(rig.emulator, 42, 8)).toEqual({ member: 'Added', acl: 'Removed' });
    await expectNothingDead();
  });

  it('a cached contact found by email and then trashed is not written to; the user is looked up again', async () => {
    await started();
    // A contact made in CiviCRM before, with the user's email and no UFMatch.
    const byEmail = rig.emulator.db.addContact({ email: 'u8@example.org' });
    await rig.send('og.group.created', { group: { id: 42, title: 'Chess Club' } }, at(0));
    await rig.send('og.membership.created', member(8), at(1));
    await rig.settle();
    expect(rig.emulator.db.groupContactStatus(ogGroups(rig.emulator, 42).member!.id, byEmail)).toBe('Added');

    // Merged into another contact that has the email too: the one found first goes to the trash.
    const kept = rig.emulator.db.addContact({ email: 'u8@example.org' });
    rig.emulator.db.mergeContacts(kept, byEmail);
    await rig.send('og.membership.updated', member(8, 'pending'), at(2));
    await rig.settle();
    const memberGroup = ogGroups(rig.emulator, 42).member!.id;
    expect(rig.emulator.db.groupContactStatus(memberGroup, kept)).toBe('Pending');
    expect(rig.emulator.db.groupContactStatus(memberGroup, byEmail)).toBeUndefined();
    await expectNothingDead();
  });

  it("a cached contact found by email that another user's UFMatch now holds: a reconcile forgets it, and the user gets one of their own", async () => {
    await started();
    const byEmail = rig.emulator.db.addContact({ email: 'u8@example.org' });
    await rig.send('og.group.created', { group: { id: 42, title: 'Chess Club' } }, at(0));
    await rig.send('og.membership.created', member(8), at(1));
    await rig.settle();
    const memberGroup = ogGroups(rig.emulator, 42).member!.id;
    expect(rig.emulator.db.groupContactStatus(memberGroup, byEmail)).toBe('Added');

    // By hand: the contact is linked to Drupal user 99, whose contact it really is.
    await civi.call('UFMatch', 'create', { uf_id: 99, contact_id: byEmail, uf_name: 'u99@example.org' });
    expect((await rig.admin('POST', '/admin/groups/42/reconcile')).status).toBe(202);
    await rig.settle();
    const own = contactOf(rig.emulator, 8);
    expect(own).toBeDefined();
    expect(own).not.toBe(byEmail);
    expect(statusesOf(rig.emulator, 42, 8)).toEqual({ member: 'Added', acl: undefined });
    expect(rig.emulator.db.groupContactStatus(memberGroup, byEmail)).toBe('Removed');
    await expectNothingDead();
  });
});

describe('the periodic resync (RESYNC_INTERVAL)', () => {
  it('re-observes a group nothing happened to in OG, repairs what was changed by hand, and counts it', async () => {
    await chessClub();
    const { member, acl, acls } = ogGroups(rig.emulator, 42);
    const db = rig.emulator.db;
    // By hand: a stranger added to the member group, member 9 removed from it, the ACL deleted.
    const stranger = db.addContact({ email: 'stranger@example.org' });
    await civi.call('GroupContact', 'create', { group_id: member!.id, contact_id: stranger });
    await civi.call('GroupContact', 'create', { group_id: member!.id, contact_id: contactOf(rig.emulator, 9), status: 'Removed' });
    await civi.call('Acl', 'delete', { id: acls[0]!.id });

    const day = 24 * 60 * 60_000;
    const report = await rig.sync.resync.runOnce(Date.now() + day);
    expect(report).toMatchObject({ ogId: 42, extra: [{ contactId: stranger, group: 'member', actual: 'Added' }] });
    await rig.settle();
    expect(db.groupContactStatus(member!.id, stranger)).toBe('Removed');
    expect(statusesOf(rig.emulator, 42, 9)).toEqual({ member: 'Added', acl: undefined });
    const repaired = ogGroups(rig.emulator, 42);
    expect(repaired.acls).toEqual([expect.objectContaining({ object_id: member!.id })]);
    expect(repaired.acl!.id).toBe(acl!.id);

    const metrics = await rig.metrics.registry.metrics();
    expect(metrics).toMatch(/og_sync_resyncs_total\{outcome="done"\} 1/);
    expect(metrics).toMatch(/og_sync_drift_found_total\{what="extra_contact"\} 1/);
    expect(metrics).toMatch(/og_sync_drift_found_total\{what="member_row"\} 1/);
    expect(metrics).toMatch(/og_sync_drift_repaired_total\{what="group"\} [1-9]/);
    await expectNothingDead();

    // Nothing is due again within the interval; the next one finds no drift and writes nothing.
    expect(await rig.sync.resync.runOnce(Date.now() + day)).toBeUndefined();
    rig.emulator.resetLog();
    await rig.sync.resync.runOnce(Date.now() + 3 * day);
    await rig.settle();
    expect(rig.emulator.calls.filter((c) => c.action !== 'get')).toEqual([]);
  });

  it('spreads the groups evenly over the interval', () => {
    expect(resyncSpacing(86_400_000, 1_000)).toBe(86_400);
    expect(resyncSpacing(86_400_000, 0)).toBe(86_400_000);
    expect(resyncSpacing(60_000, 1_000_000)).toBe(1_000);
  });
});
