// Drift made by hand in CiviCRM heals on the next sync and never kills an event: groups deleted,
// contacts merged or trashed.
import { afterEach, describe, expect, it } from 'vitest';
import { CiviClient } from '../src/civicrm/client.js';
import { contactOf, ogGroups, statusesOf } from './support/civicrm-view.js';
import { startRig, type Rig } from './support/sync.js';

const at = (minute: number) => new Date(Date.UTC(2026, 10, 24, 10, minute)).toISOString();
const user = (uid: number) => ({ id: uid, email: `u${uid}@example.org` });
const member = (uid: number, state = 'active', isAdmin = false) => ({ group_id: 42, user: user(uid), state, is_admin: isAdmin });

let rig: Rig;
let civi: CiviClient;
afterEach(async () => {
  await civi?.close();
  await rig.close();
});

/** Chess Club with an admin (7) and two members (8, 9), synced. */
async function chessClub(): Promise<void> {
  rig = await startRig();
  civi = new CiviClient({ url: rig.emulator.restUrl, apiKey: rig.emulator.apiKey, siteKey: rig.emulator.siteKey, auth: 'legacy' });
  await rig.send('og.group.created', { group: { id: 42, title: 'Chess Club', owner: user(7) } }, at(0));
  for (const uid of [8, 9]) await rig.send('og.membership.created', member(uid), at(1));
  await rig.settle();
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

  it('a cached contact found by email and then trashed is not written to; the user is looked up again', async () => {
    rig = await startRig();
    civi = new CiviClient({ url: rig.emulator.restUrl, apiKey: rig.emulator.apiKey, siteKey: rig.emulator.siteKey, auth: 'legacy' });
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
});
