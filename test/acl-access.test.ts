// What a group's admins can do in CiviCRM after a sync: CiviCRM decides access from its ACL
// cache, which its API writes leave stale (see test/civicrm-emulator/acl-cache.ts).
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../src/logger.js';
import { ogGroups } from './support/civicrm-view.js';
import { startRig, type Rig } from './support/sync.js';

const at = (minute: number) => new Date(Date.UTC(2026, 10, 24, 10, minute)).toISOString();
const ann = { id: 7, email: 'ann@example.org' };
const bo = { id: 9, email: 'bo@example.org' };

let rig: Rig;
afterEach(async () => {
  await rig.close();
});

/** Contacts linked to Drupal users who have looked at CiviCRM before: their access is cached. */
function knownContacts(): { ann: number; bo: number } {
  const db = rig.emulator.db;
  const ids = { ann: db.addContact({ email: ann.email }), bo: db.addContact({ email: bo.email }) };
  db.addUFMatch(ann.id, ids.ann, ann.email);
  db.addUFMatch(bo.id, ids.bo, bo.email);
  for (const id of Object.values(ids)) expect(db.aclCache.editableGroups(id)).toEqual([]);
  return ids;
}

const editable = (contactId: number) => rig.emulator.db.aclCache.editableGroups(contactId);

describe("admins' access in CiviCRM", () => {
  for (const mode of ['deterministic', 'opportunistic'] as const) {
    it(`is given and taken at once, with acl_cache_refresh_mode ${mode}`, async () => {
      rig = await startRig();
      rig.emulator.db.settings.acl_cache_refresh_mode = mode;
      const contacts = knownContacts();
      await rig.send('og.group.created', { group: { id: 42, title: 'Chess Club', owner: ann } }, at(0));
      await rig.send('og.membership.created', { group_id: 42, user: bo, state: 'active', is_admin: true }, at(1));
      await rig.settle();
      const memberGroup = ogGroups(rig.emulator, 42).member!.id;
      expect(editable(contacts.ann)).toEqual([memberGroup]);
      expect(editable(contacts.bo)).toEqual([memberGroup]);

      // One change of a known member: the flush rides in the same request.
      rig.emulator.resetLog();
      await rig.send('og.membership.updated', { group_id: 42, user: bo, state: 'active', is_admin: false }, at(2));
      await rig.settle();
      expect(editable(contacts.bo)).toEqual([]);
      expect(editable(contacts.ann)).toEqual([memberGroup]);
      expect(rig.emulator.requests).toBe(1);
      // The group's look, the write through Bo's UFMatch (chained GroupContact.create), then the flush.
      expect(rig.emulator.calls.map((c) => `${c.entity}.${c.action}`)).toEqual([
        'Group.get',
        'OptionValue.get',
        'Group.get',
        'AclRole.get',
        'Acl.get',
        'AclRole.get',
        'UFMatch.get',
        'Job.acl_cache_flush',
      ]);
    });
  }

  it('an ACL repaired after it was deleted by hand gives the access back at once', async () => {
    rig = await startRig();
    rig.emulator.db.settings.acl_cache_refresh_mode = 'deterministic';
    const contacts = knownContacts();
    await rig.send('og.group.created', { group: { id: 42, title: 'Chess Club', owner: ann } }, at(0));
    await rig.settle();
    // Deleting an ACL resets the cache; the admin looks at CiviCRM meanwhile and is cached with no access.
    for (const acl of ogGroups(rig.emulator, 42).acls) rig.emulator.db.acls.delete(acl.id);
    rig.emulator.db.aclCache.reset();
    expect(editable(contacts.ann)).toEqual([]);
    expect((await rig.admin('POST', '/admin/groups/42/reconcile')).status).toBe(202);
    await rig.settle();
    expect(editable(contacts.ann)).toEqual([ogGroups(rig.emulator, 42).member!.id]);
  });

  it('a CiviCRM without Job.acl_cache_flush (before 5.37) gets one warning, and the sync goes on', async () => {
    let logged = '';
    const sink = new Writable({ write: (chunk, _encoding, done) => ((logged += String(chunk)), done()) });
    rig = await startRig({ emulator: { version: '5.36.0' }, logger: createLogger('warn', sink) });
    const contacts = knownContacts();
    await rig.send('og.group.created', { group: { id: 42, title: 'Chess Club', owner: ann } }, at(0));
    await rig.send('og.membership.created', { group_id: 42, user: bo, state: 'active', is_admin: true }, at(1));
    await rig.settle();
    await rig.send('og.membership.updated', { group_id: 42, user: bo, state: 'active', is_admin: false }, at(2));
    await rig.settle();
    expect((await rig.admin('GET', '/admin/status')).body).toMatchObject({ dead: 0 });
    // Before 5.37 every GroupContact change reset the cache, so access follows anyway.
    expect(editable(contacts.bo)).toEqual([]);
    const flushes = rig.emulator.calls.filter((c) => c.entity === 'Job');
    expect(flushes).toHaveLength(1);
    expect(flushes[0]).toMatchObject({ isError: true, errorMessage: 'API (Job, acl_cache_flush) does not exist (join the API team and implement it!)' });
    expect(logged.match(/no Job\.acl_cache_flush/g)).toHaveLength(1);
  });

  it('a flush that failed (a lock wait timed out) is sent again with the next change of access', async () => {
    rig = await startRig();
    rig.emulator.db.settings.acl_cache_refresh_mode = 'deterministic';
    const contacts = knownContacts();
    await rig.send('og.group.created', { group: { id: 42, title: 'Chess Club', owner: ann } }, at(0));
    await rig.settle();
    rig.emulator.resetLog();
    rig.emulator.faults.failCalls('Job', 'acl_cache_flush');
    await rig.send('og.membership.created', { group_id: 42, user: bo, state: 'active', is_admin: true }, at(1));
    await rig.settle();
    // The failed flush left Bo's access to CiviCRM's next rebuild; the next change flushes again.
    await rig.send('og.membership.updated', { group_id: 42, user: bo, state: 'active', is_admin: false }, at(2));
    await rig.settle();
    const flushes = rig.emulator.calls.filter((c) => c.entity === 'Job');
    expect(flushes.map((c) => c.isError)).toEqual([true, false]);
    expect(editable(contacts.bo)).toEqual([]);
    expect(editable(contacts.ann)).toEqual([ogGroups(rig.emulator, 42).member!.id]);
    expect((await rig.admin('GET', '/admin/status')).body).toMatchObject({ dead: 0 });
  });

  it('a flush refused for want of a permission is asked once, with one warning naming it', async () => {
    let logged = '';
    const sink = new Writable({ write: (chunk, _encoding, done) => ((logged += String(chunk)), done()) });
    rig = await startRig({ logger: createLogger('warn', sink) });
    rig.emulator.faults.refuseCalls('Job', 'acl_cache_flush');
    await rig.send('og.group.created', { group: { id: 42, title: 'Chess Club', owner: ann } }, at(0));
    await rig.send('og.membership.created', { group_id: 42, user: bo, state: 'active', is_admin: true }, at(1));
    await rig.settle();
    await rig.send('og.membership.updated', { group_id: 42, user: bo, state: 'active', is_admin: false }, at(2));
    await rig.settle();
    const flushes = rig.emulator.calls.filter((c) => c.entity === 'Job');
    expect(flushes).toHaveLength(1);
    expect(flushes[0]).toMatchObject({
      isError: true,
      errorMessage: 'API permission check failed for Job/acl_cache_flush call; insufficient permission: require administer CiviCRM',
    });
    expect(logged.match(/refused Job\.acl_cache_flush \(it needs the 'administer CiviCRM' permission\)/g)).toHaveLength(1);
    expect((await rig.admin('GET', '/admin/status')).body).toMatchObject({ dead: 0 });
  });
});
