// Drift repair: after a sync, CiviCRM is edited by hand (through the emulator's tables) and
// `reconcile` — the CLI, or POST /admin/groups/{ogId}/reconcile — makes it match the ledger
// again. OG is the source of truth for synced groups.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startEmulator, type CiviEmulator } from './civicrm-emulator/index.js';
import { tempDir } from './support/app.js';
import { ogGroups } from './support/civicrm-view.js';
import { runCli } from './support/process.js';
import { cliEnv, differences, dumpEmulator, generateSnapshots, jsonl, type SnapshotLine } from './support/snapshots.js';
import { startRig, type Rig } from './support/sync.js';
import { waitFor } from './support/wait.js';

/** Hand edits to one synced group; what each should become once repaired. */
interface Drift {
  ogId: number;
  /** Contacts OG does not have in the group, added by hand: must end Removed. */
  outsiders: Array<{ contactId: number; side: 'member' | 'acl' }>;
  /** Drupal users whose rows were changed (for the report). */
  touched: Array<{ uid: number; contactId: number; side: 'member' | 'acl'; was: 'deleted' | 'Added' | 'Pending' | 'Removed' }>;
  aclDeleted: boolean;
}

const contactOf = (emulator: CiviEmulator, uid: number) => emulator.db.ufMatchByUfId(uid)!.contact_id;

/** Sets a row's status by hand, or deletes it. */
function edit(emulator: CiviEmulator, groupId: number, contactId: number, to: 'deleted' | 'Added' | 'Pending' | 'Removed') {
  const db = emulator.db;
  if (to === 'deleted') {
    const row = db.membership(groupId, contactId);
    expect(row, `a row for contact ${contactId} in group ${groupId}`).toBeDefined();
    db.groupContacts.delete(row!.id);
  } else {
    db.addGroupContact(groupId, contactId, to);
  }
}

let outsiderCount = 0;
function outsider(emulator: CiviEmulator): number {
  outsiderCount++;
  return emulator.db.addContact({ email: `walk-in${outsiderCount}@example.org`, first_name: 'Walk', last_name: `In${outsiderCount}` });
}

/**
 * The small group's drift: members removed (status and deleted row), wrong statuses, an
 * admin dropped from the ACL group, a non-admin put into it, contacts who are not members
 * put into both groups, and the ACL row deleted.
 */
function breakSmallGroup(emulator: CiviEmulator, line: SnapshotLine): Drift {
  const { member, acl, acls } = ogGroups(emulator, line.group.id);
  const uid = (i: number) => line.members[i]!.user.id;
  // Indexes follow generateSnapshots: 0, 4, 20, 24 … admins; 4, 13 … pending; 6, 19 … blocked.
  expect(line.members[0]!.is_admin && line.members[0]!.state === 'active').toBe(true);
  expect(line.members[13]!.state).toBe('pending');
  expect(line.members[6]!.state).toBe('blocked');
  const changes: Array<[number, 'member' | 'acl', 'deleted' | 'Added' | 'Pending' | 'Removed']> = [
    [1, 'member', 'Removed'], // removed by hand
    [2, 'member', 'deleted'], // row deleted
    [3, 'member', 'Pending'], // wrong status
    [13, 'member', 'Added'], // pending in OG, Added by hand
    [6, 'member', 'Added'], // blocked in OG, Added by hand
    [0, 'acl', 'deleted'], // admin's ACL row deleted
    [20, 'acl', 'Removed'], // admin removed from the ACL group
    [5, 'acl', 'Added'], // not an admin, put into the ACL group
  ];
  const touched = changes.map(([i, side, was]) => {
    const contactId = contactOf(emulator, uid(i));
    edit(emulator, side === 'member' ? member!.id : acl!.id, contactId, was);
    return { uid: uid(i), contactId, side, was };
  });
  const outsiders = [
    { contactId: outsider(emulator), side: 'member' as const, status: 'Added' as const },
    { contactId: outsider(emulator), side: 'member' as const, status: 'Pending' as const },
    { contactId: outsider(emulator), side: 'acl' as const, status: 'Added' as const },
  ];
  for (const o of outsiders) emulator.db.addGroupContact(o.side === 'member' ? member!.id : acl!.id, o.contactId, o.status);
  expect(acls).toHaveLength(1);
  emulator.db.acls.delete(acls[0]!.id);
  return { ogId: line.group.id, outsiders, touched, aclDeleted: true };
}

/** Drift spread over a 600-member group: on every page of GroupContact.get, both groups. */
function breakBigGroup(emulator: CiviEmulator, line: SnapshotLine): Drift {
  const { member, acl } = ogGroups(emulator, line.group.id);
  const touched: Drift['touched'] = [];
  line.members.forEach((m, i) => {
    const contactId = contactOf(emulator, m.user.id);
    let side: 'member' | 'acl' = 'member';
    let was: 'deleted' | 'Added' | 'Pending' | 'Removed' | undefined;
    if (m.state === 'active' && i % 37 === 1) was = 'deleted';
    else if (m.state === 'active' && i % 41 === 2) was = 'Removed';
    else if (m.state === 'active' && !m.is_admin && i % 43 === 3) was = 'Pending';
    else if (m.state === 'pending' && i % 5 === 0) was = 'Added';
    else if (m.state === 'active' && m.is_admin && i % 7 === 0) [side, was] = ['acl', 'deleted'];
    else if (m.state === 'active' && !m.is_admin && i % 47 === 5) [side, was] = ['acl', 'Added'];
    if (!was) return;
    edit(emulator, side === 'member' ? member!.id : acl!.id, contactId, was);
    touched.push({ uid: m.user.id, contactId, side, was });
  });
  const outsiders = Array.from({ length: 30 }, (_, i) => ({ contactId: outsider(emulator), side: i % 6 === 0 ? ('acl' as const) : ('member' as const) }));
  for (const o of outsiders) emulator.db.addGroupContact(o.side === 'member' ? member!.id : acl!.id, o.contactId, 'Added');
  // The drift is really spread: first and last of 600, far past the first page of 25 (and of 200).
  expect(touched.length).toBeGreaterThan(50);
  expect(Math.min(...touched.map((t) => line.members.findIndex((m) => m.user.id === t.uid)))).toBeLessThan(25);
  expect(Math.max(...touched.map((t) => line.members.findIndex((m) => m.user.id === t.uid)))).toBeGreaterThan(550);
  return { ogId: line.group.id, outsiders, touched, aclDeleted: false };
}

/** [] when a broken group is whole again. */
function unrepaired(emulator: CiviEmulator, line: SnapshotLine, drift: Drift): string[] {
  const out = differences(emulator, [line], { aclRemovedIsAbsent: true });
  const { member, acl } = ogGroups(emulator, line.group.id);
  for (const o of drift.outsiders) {
    const status = emulator.db.groupContactStatus(o.side === 'member' ? member!.id : acl!.id, o.contactId);
    if (status !== 'Removed') out.push(`outsider contact ${o.contactId} is ${status} in the ${o.side} group`);
  }
  return out;
}

/** Writes in the emulator's call log (anything but reads). */
const writesIn = (emulator: CiviEmulator) => emulator.calls.filter((c) => !/^get/.test(c.action)).map((c) => `${c.entity}.${c.action}`);

describe('reconcile through the CLI', () => {
  let emulator: CiviEmulator;
  let dir: ReturnType<typeof tempDir>;
  let env: Record<string, string>;
  const [small, big, calm] = [
    generateSnapshots(1, 40, 501)[0]!,
    generateSnapshots(1, 600, 502)[0]!,
    generateSnapshots(1, 30, 503)[0]!,
  ] as const;
  const lines = [small, big, calm];

  beforeEach(async () => {
    emulator = await startEmulator();
    dir = tempDir();
    env = cliEnv(emulator, join(dir.path, 'ledger.sqlite'));
    const file = join(dir.path, 'groups.jsonl');
    writeFileSync(file, jsonl(lines));
    const backfill = await runCli(['backfill', file], env);
    expect(backfill.code, backfill.stderr).toBe(0);
    expect(differences(emulator, lines)).toEqual([]);
  });
  afterEach(async () => {
    await emulator.close();
    dir.remove();
  });

  it('--dry-run prints the differences and changes nothing, in CiviCRM or in the ledger', async () => {
    const smallDrift = breakSmallGroup(emulator, small);
    breakBigGroup(emulator, big);
    const before = dumpEmulator(emulator);
    emulator.resetLog();

    const one = await runCli(['reconcile', '--group', String(small.group.id), '--dry-run'], env);
    expect(one.code, one.stderr).toBe(0);
    const all = await runCli(['reconcile', '--dry-run'], env);
    expect(all.code, all.stderr).toBe(0);

    expect(writesIn(emulator)).toEqual([]);
    expect(dumpEmulator(emulator)).toBe(before);

    // The differences, named.
    const { member: memberGroup } = ogGroups(emulator, small.group.id);
    expect(one.stdout).toMatch(new RegExp(`OG group ${small.group.id} \\(member group ${memberGroup!.id}, ACL group \\d+\\): \\d+ difference\\(s\\)`));
    const removed = smallDrift.touched.find((t) => t.was === 'Removed' && t.side === 'member')!;
    const deleted = smallDrift.touched.find((t) => t.was === 'deleted' && t.side === 'member')!;
    const added = smallDrift.outsiders.find((o) => o.side === 'member')!;
    expect(one.stdout).toContain(`user ${deleted.uid} (contact ${deleted.contactId}) missing from the member group: would be Added`);
    expect(one.stdout).toContain(`user ${removed.uid} (contact ${removed.contactId}) is Removed in the member group: would be Added`);
    expect(one.stdout).toContain(`contact ${added.contactId} is Added in the member group but not in OG: would be Removed`);
    expect(one.stdout).toMatch(/would create Acl/);
    expect(one.stdout).not.toContain(`OG group ${big.group.id}`);
    // Without --group every group is looked at; the calm one is in step.
    for (const ogId of [small.group.id, big.group.id, calm.group.id]) expect(all.stdout).toContain(`OG group ${ogId} `);
    expect(all.stdout).toMatch(new RegExp(`OG group ${calm.group.id} \\(.*\\): in step`));

    // The ledger was not touched either: a real reconcile afterwards still finds and repairs it all.
    const repair = await runCli(['reconcile', '--group', String(small.group.id)], env);
    expect(repair.code, repair.stderr).toBe(0);
    expect(unrepaired(emulator, small, smallDrift)).toEqual([]);
  });

  it('repairs one group with --group N, then every group without it', async () => {
    const smallDrift = breakSmallGroup(emulator, small);
    const bigDrift = breakBigGroup(emulator, big);

    const one = await runCli(['reconcile', '--group', String(small.group.id)], env);
    expect(one.code, `${one.stdout}\n${one.stderr}`).toBe(0);
    expect(unrepaired(emulator, small, smallDrift)).toEqual([]);
    // The other group was left alone.
    expect(unrepaired(emulator, big, bigDrift).length).toBeGreaterThan(50);

    emulator.resetLog();
    const all = await runCli(['reconcile'], env);
    expect(all.code, `${all.stdout}\n${all.stderr}`).toBe(0);
    expect(unrepaired(emulator, big, bigDrift).slice(0, 20)).toEqual([]);
    expect(unrepaired(emulator, small, smallDrift)).toEqual([]);
    expect(differences(emulator, [calm])).toEqual([]);
    // Each of the 600 members' rows was read, every page of them.
    const pages = emulator.calls.filter((c) => c.entity === 'GroupContact' && /^get/.test(c.action));
    expect(pages.length).toBeGreaterThanOrEqual(3);
    console.log(`reconcile of all three groups (${40 + 600 + 30} members): ${emulator.requests} requests`);

    // Nothing is left to repair: a dry run now finds every group in step.
    const check = await runCli(['reconcile', '--dry-run'], env);
    for (const ogId of [small.group.id, big.group.id, calm.group.id]) {
      expect(check.stdout).toMatch(new RegExp(`OG group ${ogId} \\(.*\\): in step`));
    }
  });

  it('recreates a deleted entity role', async () => {
    const { entityRoles, acl, role } = ogGroups(emulator, small.group.id);
    expect(entityRoles, 'the entity role the sync made').toHaveLength(1);
    emulator.db.aclEntityRoles.delete(entityRoles[0]!.id);

    const run = await runCli(['reconcile', '--group', String(small.group.id)], env);
    expect(run.code, run.stderr).toBe(0);
    expect(ogGroups(emulator, small.group.id).entityRoles).toEqual([
      expect.objectContaining({ acl_role_id: Number(role!.value), entity_table: 'civicrm_group', entity_id: acl!.id, is_active: true }),
    ]);
  });
});

describe('POST /admin/groups/{ogId}/reconcile', () => {
  let rig: Rig;
  const at = (minute: number) => new Date(Date.UTC(2026, 10, 24, 10, minute)).toISOString();
  const [small, big] = [generateSnapshots(1, 40, 42)[0]!, generateSnapshots(1, 600, 43)[0]!] as const;

  beforeEach(async () => {
    rig = await startRig();
    for (const line of [small, big]) expect((await rig.send('og.group.snapshot', line, at(0))).status).toBe(202);
    await rig.settle();
    expect(differences(rig.emulator, [small, big])).toEqual([]);
  });
  afterEach(async () => {
    await rig.close();
  });

  it('answers 202 with a report of what was found, and repairs it', async () => {
    const drift = breakSmallGroup(rig.emulator, small);
    const { status, body } = await rig.admin('POST', `/admin/groups/${small.group.id}/reconcile`);
    expect(status).toBe(202);
    expect(body).toMatchObject({ ogId: small.group.id, status: 'pending' });
    const report = body.report as {
      missing: Array<{ uid: number; group: string; wanted: string }>;
      wrongStatus: Array<{ uid: number; group: string; actual: string; wanted: string }>;
      extra: Array<{ contactId: number; group: string; actual: string }>;
      groupChanges: string[];
    };
    const removedUid = drift.touched.find((t) => t.was === 'Removed' && t.side === 'member')!.uid;
    const deletedUid = drift.touched.find((t) => t.was === 'deleted' && t.side === 'member')!.uid;
    expect(report.missing).toContainEqual(expect.objectContaining({ uid: deletedUid, group: 'member', wanted: 'Added' }));
    expect(report.wrongStatus).toContainEqual(expect.objectContaining({ uid: removedUid, group: 'member', actual: 'Removed', wanted: 'Added' }));
    expect(report.extra.map((e) => e.contactId).sort()).toEqual(drift.outsiders.map((o) => o.contactId).sort());
    expect(report.groupChanges.join('\n')).toMatch(/Acl/);

    await waitFor(() => unrepaired(rig.emulator, small, drift).length === 0, 'the small group to be repaired');
    expect(unrepaired(rig.emulator, small, drift)).toEqual([]);
  });

  it('repairs drift spread across a 600-member group (every page)', async () => {
    const drift = breakBigGroup(rig.emulator, big);
    const { status, body } = await rig.admin('POST', `/admin/groups/${big.group.id}/reconcile`);
    expect(status).toBe(202);
    const report = body.report as { missing: unknown[]; wrongStatus: unknown[]; extra: unknown[] };
    expect(report.missing.length + report.wrongStatus.length).toBe(drift.touched.length);
    expect(report.extra).toHaveLength(drift.outsiders.length);
    await waitFor(() => unrepaired(rig.emulator, big, drift).length === 0, 'the 600-member group to be repaired');
    expect(unrepaired(rig.emulator, big, drift)).toEqual([]);
  });

  it('removes a duplicate ACL row, and replaces a broken ACL row and a disabled entity role', async () => {
    const { acls, entityRoles, role, acl, member } = ogGroups(rig.emulator, small.group.id);
    expect(acls).toHaveLength(1);
    expect(entityRoles).toHaveLength(1);
    const { id: _aclId, ...aclRow } = acls[0]!;
    rig.emulator.db.acls.insert({ ...aclRow }); // an orphaned copy
    rig.emulator.db.acls.update(acls[0]!.id, { operation: 'View' });
    rig.emulator.db.aclEntityRoles.update(entityRoles[0]!.id, { is_active: false });

    const { status, body } = await rig.admin('POST', `/admin/groups/${small.group.id}/reconcile`);
    expect(status).toBe(202);
    expect((body.report as { groupChanges: string[] }).groupChanges.length).toBeGreaterThan(0);
    const after = ogGroups(rig.emulator, small.group.id);
    expect(after.acls).toEqual([
      expect.objectContaining({ operation: 'Edit', entity_id: Number(role!.value), object_table: 'civicrm_group', object_id: member!.id, is_active: true }),
    ]);
    expect(after.entityRoles).toEqual([
      expect.objectContaining({ acl_role_id: Number(role!.value), entity_table: 'civicrm_group', entity_id: acl!.id, is_active: true }),
    ]);
  });

  it('a group in step is left alone', async () => {
    rig.emulator.resetLog();
    const { status, body } = await rig.admin('POST', `/admin/groups/${small.group.id}/reconcile`);
    expect(status).toBe(202);
    expect(body.report).toMatchObject({ missing: [], wrongStatus: [], extra: [], groupChanges: [] });
    await rig.settle();
    expect(writesIn(rig.emulator).filter((w) => w.startsWith('GroupContact'))).toEqual([]);
  });

  it('answers 404 for a group it does not know', async () => {
    const { status, body } = await rig.admin('POST', '/admin/groups/999999/reconcile');
    expect(status).toBe(404);
    expect(body).toMatchObject({ status: 404 });
  });
});
