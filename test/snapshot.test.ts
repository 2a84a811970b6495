// og.group.snapshot through the signed webhook, end to end against the emulator: the
// complete member list of a group, with the same ordering rule as every other event.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { contactOf, ogGroups, statusesOf } from './support/civicrm-view.js';
import { startRig, type Rig } from './support/sync.js';

let rig: Rig;
beforeEach(async () => {
  rig = await startRig();
});
afterEach(async () => {
  await rig.close();
});

const OG_ID = 42;
const at = (minute: number) => new Date(Date.UTC(2026, 10, 24, 10, minute)).toISOString();
const user = (id: number) => ({ id, email: `user${id}@example.org`, first_name: `First${id}`, last_name: `Last${id}` });
const member = (uid: number, state: 'active' | 'pending' | 'blocked', isAdmin = false) => ({ user: user(uid), state, is_admin: isAdmin });
const snapshot = (title: string, members: ReturnType<typeof member>[]) => ({ group: { id: OG_ID, title }, members });

async function send(type: string, data: unknown, timestamp: string) {
  const answer = await rig.send(type, data, timestamp);
  expect(answer, `${type} at ${timestamp}`).toMatchObject({ status: 202, body: { status: 'accepted' } });
}

describe('og.group.snapshot', () => {
  it('adds the listed members with their states and makes the group', async () => {
    await send(
      'og.group.snapshot',
      snapshot('Chess Club', [member(1, 'active', true), member(2, 'active'), member(3, 'pending'), member(4, 'blocked')]),
      at(0),
    );
    await rig.settle();
    const { member: memberGroup, acl } = ogGroups(rig.emulator, OG_ID);
    expect(memberGroup).toMatchObject({ title: 'Chess Club', source: `OG Sync Group :${OG_ID}:` });
    expect(acl).toMatchObject({ title: 'Chess Club: Administrator' });
    expect(statusesOf(rig.emulator, OG_ID, 1)).toEqual({ member: 'Added', acl: 'Added' });
    expect(statusesOf(rig.emulator, OG_ID, 2)).toEqual({ member: 'Added', acl: undefined });
    expect(statusesOf(rig.emulator, OG_ID, 3)).toEqual({ member: 'Pending', acl: undefined });
    expect(statusesOf(rig.emulator, OG_ID, 4)).toEqual({ member: 'Removed', acl: undefined });
  });

  it('removes members missing from a later snapshot and applies state changes', async () => {
    await send(
      'og.group.snapshot',
      snapshot('Chess Club', [
        member(1, 'active', true),
        member(2, 'active'),
        member(3, 'pending'),
        member(4, 'active', true),
        member(5, 'active'),
        member(6, 'blocked'),
      ]),
      at(0),
    );
    await rig.settle();
    expect(statusesOf(rig.emulator, OG_ID, 4)).toEqual({ member: 'Added', acl: 'Added' });

    await send(
      'og.group.snapshot',
      snapshot('Chess Club', [
        member(1, 'active', false), // loses the admin role
        // 2 left the group
        member(3, 'active'), // pending → active
        // 4, an admin, left the group
        member(5, 'blocked'), // active → blocked
        member(6, 'active'), // blocked → active
        member(7, 'active', true), // new
      ]),
      at(1),
    );
    await rig.settle();
    expect(statusesOf(rig.emulator, OG_ID, 1)).toEqual({ member: 'Added', acl: 'Removed' });
    expect(statusesOf(rig.emulator, OG_ID, 2)).toEqual({ member: 'Removed', acl: undefined });
    expect(statusesOf(rig.emulator, OG_ID, 3)).toEqual({ member: 'Added', acl: undefined });
    expect(statusesOf(rig.emulator, OG_ID, 4)).toEqual({ member: 'Removed', acl: 'Removed' });
    expect(statusesOf(rig.emulator, OG_ID, 5)).toEqual({ member: 'Removed', acl: undefined });
    expect(statusesOf(rig.emulator, OG_ID, 6)).toEqual({ member: 'Added', acl: undefined });
    expect(statusesOf(rig.emulator, OG_ID, 7)).toEqual({ member: 'Added', acl: 'Added' });

    // The operator's view agrees: the members who left are deleted in the ledger.
    const { status, body } = await rig.admin('GET', `/admin/groups/${OG_ID}`);
    expect(status).toBe(200);
    const states = Object.fromEntries((body.members as Array<{ uid: number; state: string }>).map((m) => [m.uid, m.state]));
    expect(states).toEqual({ 1: 'active', 2: 'deleted', 3: 'active', 4: 'deleted', 5: 'blocked', 6: 'active', 7: 'active' });
  });

  it('removes members that came by single membership events when the snapshot lacks them', async () => {
    await send('og.group.created', { group: { id: OG_ID, title: 'Chess Club' } }, at(0));
    await send('og.membership.created', { group_id: OG_ID, ...member(8, 'active', true) }, at(1));
    await send('og.membership.created', { group_id: OG_ID, ...member(9, 'active') }, at(1));
    await rig.settle();
    expect(statusesOf(rig.emulator, OG_ID, 8)).toEqual({ member: 'Added', acl: 'Added' });

    await send('og.group.snapshot', snapshot('Chess Club', [member(9, 'active')]), at(2));
    await rig.settle();
    expect(statusesOf(rig.emulator, OG_ID, 8)).toEqual({ member: 'Removed', acl: 'Removed' });
    expect(statusesOf(rig.emulator, OG_ID, 9)).toEqual({ member: 'Added', acl: undefined });
  });

  it('an empty member list removes everyone', async () => {
    await send('og.group.snapshot', snapshot('Chess Club', [member(1, 'active', true), member(2, 'pending')]), at(0));
    await rig.settle();
    await send('og.group.snapshot', snapshot('Chess Club', []), at(1));
    await rig.settle();
    expect(statusesOf(rig.emulator, OG_ID, 1)).toEqual({ member: 'Removed', acl: 'Removed' });
    expect(statusesOf(rig.emulator, OG_ID, 2)).toEqual({ member: 'Removed', acl: undefined });
  });

  it('renames the groups when the snapshot brings a new title', async () => {
    await send('og.group.snapshot', snapshot('Chess Club', [member(1, 'active')]), at(0));
    await rig.settle();
    await send('og.group.snapshot', snapshot('Chess & Go Club', [member(1, 'active')]), at(1));
    await rig.settle();
    const { member: memberGroup, acl, role } = ogGroups(rig.emulator, OG_ID);
    expect(memberGroup?.title).toBe('Chess & Go Club');
    expect(acl?.title).toBe('Chess & Go Club: Administrator');
    expect(role?.label).toBe('Chess & Go Club: Administrator');
  });
});

describe('ordering: a snapshot older than a later change does not undo it', () => {
  it('keeps a member who joined after the snapshot was taken, and a block made after it', async () => {
    await send('og.group.created', { group: { id: OG_ID, title: 'Chess Club' } }, at(0));
    // Changes made in Drupal at 10:05 ...
    await send('og.membership.created', { group_id: OG_ID, ...member(7, 'active', true) }, at(5));
    await send('og.membership.updated', { group_id: OG_ID, ...member(8, 'blocked') }, at(5));
    await send('og.membership.deleted', { group_id: OG_ID, user: { id: 9 } }, at(5));
    await rig.settle();
    expect(statusesOf(rig.emulator, OG_ID, 7)).toEqual({ member: 'Added', acl: 'Added' });

    // ... then a snapshot exported at 10:03 arrives: it lacks 7, has 8 active and 9 pending.
    await send('og.group.snapshot', snapshot('Chess Club', [member(8, 'active'), member(9, 'pending'), member(10, 'active')]), at(3));
    await rig.settle();
    expect(statusesOf(rig.emulator, OG_ID, 7)).toEqual({ member: 'Added', acl: 'Added' });
    expect(statusesOf(rig.emulator, OG_ID, 8)).toEqual({ member: 'Removed', acl: undefined });
    expect(statusesOf(rig.emulator, OG_ID, 9).member).not.toBe('Pending');
    expect(statusesOf(rig.emulator, OG_ID, 9).member).not.toBe('Added');
    // A member the later events never touched is taken from the snapshot.
    expect(statusesOf(rig.emulator, OG_ID, 10)).toEqual({ member: 'Added', acl: undefined });
  });

  it('keeps a newer title', async () => {
    await send('og.group.updated', { group: { id: OG_ID, title: 'New Title' } }, at(5));
    await send('og.group.snapshot', snapshot('Old Title', [member(1, 'active')]), at(3));
    await rig.settle();
    expect(ogGroups(rig.emulator, OG_ID).member?.title).toBe('New Title');
    expect(statusesOf(rig.emulator, OG_ID, 1)).toEqual({ member: 'Added', acl: undefined });
  });

  // The snapshot says who was in the group at 10:05, so it orders against every membership of
  // the group, listed or not: a late event from before it has no effect, even for a user the
  // ledger had no row for yet.
  it('a membership event older than the snapshot does not undo the snapshot either', async () => {
    await send('og.group.snapshot', snapshot('Chess Club', [member(1, 'active')]), at(5));
    await rig.settle();
    await send('og.membership.created', { group_id: OG_ID, ...member(2, 'active') }, at(3)); // not in the newer snapshot
    await send('og.membership.updated', { group_id: OG_ID, ...member(1, 'blocked') }, at(4));
    await rig.settle();
    expect(statusesOf(rig.emulator, OG_ID, 1)).toEqual({ member: 'Added', acl: undefined });
    // User 2 was not in the group at 10:05: a late "joined at 10:03" changes nothing in CiviCRM.
    expect(statusesOf(rig.emulator, OG_ID, 2).member).not.toBe('Added');
  });
});

describe('a second identical snapshot', () => {
  it('costs at most 5 CiviCRM requests per 1,000 members', async () => {
    const states = ['active', 'active', 'active', 'pending', 'blocked'] as const;
    const data = snapshot(
      'Big Club',
      Array.from({ length: 1_000 }, (_, i) => member(1_000 + i, states[i % states.length]!, i % 50 === 0)),
    );
    await send('og.group.snapshot', data, at(0));
    await rig.settle();
    const memberGroup = ogGroups(rig.emulator, OG_ID).member!;
    expect(rig.emulator.db.members(memberGroup.id, 'Added')).toHaveLength(600);
    const contacts = rig.emulator.db.contacts.size;

    rig.emulator.resetLog();
    await send('og.group.snapshot', data, at(1));
    await rig.settle();
    const requests = rig.emulator.requests;
    const writes = rig.emulator.calls.filter((c) => c.action !== 'get');
    console.log(`second identical 1,000-member snapshot: ${requests} requests, writes: ${writes.map((c) => `${c.entity}.${c.action}`).join(', ') || 'none'}`);
    expect(requests).toBeLessThanOrEqual(5);
    // Nothing about the members was written again, and no contact was made twice.
    expect(writes.filter((c) => c.entity === 'GroupContact' || c.entity === 'Contact')).toEqual([]);
    expect(rig.emulator.db.contacts.size).toBe(contacts);
    expect(rig.emulator.db.members(memberGroup.id, 'Added')).toHaveLength(600);
    expect(contactOf(rig.emulator, 1_000)).toBeDefined();
  });
});
