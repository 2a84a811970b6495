import { describe, expect, it } from 'vitest';
import type { OgMember, OgUser } from '../src/events/model.js';
import { changedOwner, ledgerChangesOf, type MemberWrite } from '../src/ledger/changes.js';

const ann: OgUser = { id: 7, email: 'ann@example.org', firstName: 'Ann', lastName: 'Lee' };
const bob: OgUser = { id: 8, email: 'bob@example.org' };
const cyd: OgUser = { id: 9 };

const member = (user: OgUser, state: OgMember['state'], isAdmin = false): OgMember => ({ user, state, isAdmin });
const byUid = (writes: MemberWrite[]) => [...writes].sort((a, b) => a.uid - b.uid);

describe('og.group.created and og.group.updated', () => {
  for (const type of ['og.group.created', 'og.group.updated'] as const) {
    it(`${type}: the group's title, no members without an owner`, () => {
      expect(ledgerChangesOf({ type, group: { id: 42, title: 'Chess Club' } })).toEqual({
        ogId: 42,
        group: { ogId: 42, title: 'Chess Club', deleted: false },
        members: [],
        users: [],
        completeMemberList: false,
      });
    });

    it(`${type}: the description when given, and the owner with the group (their membership is their own)`, () => {
      expect(
        ledgerChangesOf({ type, group: { id: 42, title: 'Chess Club', description: 'Tuesdays', owner: ann } }),
      ).toEqual({
        ogId: 42,
        group: { ogId: 42, title: 'Chess Club', description: 'Tuesdays', ownerUid: 7, deleted: false },
        members: [],
        users: [ann],
        completeMemberList: false,
      });
    });

    it(`${type}: an empty description is kept (it clears the old one), unlike an absent one`, () => {
      const changes = ledgerChangesOf({ type, group: { id: 42, title: 'Chess Club', description: '' } });
      expect(changes.group).toEqual({ ogId: 42, title: 'Chess Club', description: '', deleted: false });
      expect(ledgerChangesOf({ type, group: { id: 42, title: 'Chess Club' } }).group).not.toHaveProperty('description');
    });

    it(`${type}: a group said to have no owner clears the one known`, () => {
      expect(ledgerChangesOf({ type, group: { id: 5, title: 'T', owner: null } })).toMatchObject({
        group: { ogId: 5, ownerUid: null },
        members: [],
        users: [],
      });
    });

    it(`${type}: an owner known by id only is still the owner`, () => {
      const changes = ledgerChangesOf({ type, group: { id: 5, title: 'T', owner: cyd } });
      expect(changes.group?.ownerUid).toBe(9);
      expect(changes.members).toEqual([]);
      expect(changes.users).toEqual([cyd]);
    });
  }
});

describe('og.group.deleted', () => {
  it('is a deletion of the group that keeps its last title (no title written) and touches no member', () => {
    const changes = ledgerChangesOf({ type: 'og.group.deleted', groupId: 42 });
    expect(changes).toEqual({
      ogId: 42,
      group: { ogId: 42, deleted: true },
      members: [],
      users: [],
      completeMemberList: false,
    });
    expect(changes.group).not.toHaveProperty('title');
  });
});

describe('og.membership.created and og.membership.updated', () => {
  for (const type of ['og.membership.created', 'og.membership.updated'] as const) {
    for (const state of ['active', 'pending', 'blocked'] as const) {
      for (const isAdmin of [false, true]) {
        it(`${type}: ${state}${isAdmin ? ', admin' : ''} is written as it is`, () => {
          expect(ledgerChangesOf({ type, groupId: 42, member: member(ann, state, isAdmin) })).toEqual({
            ogId: 42,
            members: [{ ogId: 42, uid: 7, state, isAdmin }],
            users: [ann],
            completeMemberList: false,
          });
        });
      }
    }

    it(`${type}: writes no group (the store makes a placeholder for an unseen one)`, () => {
      expect(ledgerChangesOf({ type, groupId: 42, member: member(bob, 'active') })).not.toHaveProperty('group');
    });
  }
});

describe('og.membership.deleted', () => {
  it('is the state "deleted", not a missing row, and drops the admin flag', () => {
    expect(ledgerChangesOf({ type: 'og.membership.deleted', groupId: 42, userId: 7 })).toEqual({
      ogId: 42,
      members: [{ ogId: 42, uid: 7, state: 'deleted', isAdmin: false }],
      users: [],
      completeMemberList: false,
    });
  });
});

describe('og.group.snapshot', () => {
  it('writes the group and every listed member, and marks the list complete', () => {
    const changes = ledgerChangesOf({
      type: 'og.group.snapshot',
      group: { id: 42, title: 'Chess Club', description: 'Tuesdays' },
      members: [member(ann, 'active', true), member(bob, 'pending'), member(cyd, 'blocked')],
    });
    expect(changes.ogId).toBe(42);
    expect(changes.group).toEqual({ ogId: 42, title: 'Chess Club', description: 'Tuesdays', deleted: false });
    expect(byUid(changes.members)).toEqual([
      { ogId: 42, uid: 7, state: 'active', isAdmin: true },
      { ogId: 42, uid: 8, state: 'pending', isAdmin: false },
      { ogId: 42, uid: 9, state: 'blocked', isAdmin: false },
    ]);
    expect(changes.users).toEqual([ann, bob, cyd]);
    expect(changes.completeMemberList).toBe(true);
  });

  it('an empty member list is complete too: every member goes', () => {
    expect(ledgerChangesOf({ type: 'og.group.snapshot', group: { id: 42, title: 'Empty' }, members: [] })).toEqual({
      ogId: 42,
      group: { ogId: 42, title: 'Empty', deleted: false },
      members: [],
      users: [],
      completeMemberList: true,
    });
  });

  it('writes one entry per uid: a later duplicate in the list wins', () => {
    const changes = ledgerChangesOf({
      type: 'og.group.snapshot',
      group: { id: 42, title: 'T' },
      members: [member(bob, 'active', true), member(ann, 'pending'), member(bob, 'blocked')],
    });
    expect(byUid(changes.members)).toEqual([
      { ogId: 42, uid: 7, state: 'pending', isAdmin: false },
      { ogId: 42, uid: 8, state: 'blocked', isAdmin: false },
    ]);
  });

  it("the owner's entry is their membership as listed; the owner goes with the group", () => {
    const changes = ledgerChangesOf({
      type: 'og.group.snapshot',
      group: { id: 42, title: 'T', owner: { id: 7 } },
      members: [member(ann, 'blocked', false), member(bob, 'active')],
    });
    expect(changes.group?.ownerUid).toBe(7);
    expect(byUid(changes.members)).toEqual([
      { ogId: 42, uid: 7, state: 'blocked', isAdmin: false },
      { ogId: 42, uid: 8, state: 'active', isAdmin: false },
    ]);
    // The listed profile and the owner's are both remembered; the store merges them.
    expect(changes.users).toEqual(expect.arrayContaining([ann, bob, { id: 7 }]));
  });

  it('an owner missing from the list has no entry of theirs; the store gives them a row to sync', () => {
    const changes = ledgerChangesOf({
      type: 'og.group.snapshot',
      group: { id: 42, title: 'T', owner: cyd },
      members: [member(bob, 'pending')],
    });
    expect(changes.group?.ownerUid).toBe(9);
    expect(byUid(changes.members)).toEqual([{ ogId: 42, uid: 8, state: 'pending', isAdmin: false }]);
    expect(changes.users).toEqual(expect.arrayContaining([bob, cyd]));
    expect(changes.users).toHaveLength(2);
  });
});

describe('every event type', () => {
  it('names the group it is about in ogId and in every member write', () => {
    const all = [
      ledgerChangesOf({ type: 'og.group.created', group: { id: 3, title: 'T', owner: ann } }),
      ledgerChangesOf({ type: 'og.group.updated', group: { id: 3, title: 'T', owner: ann } }),
      ledgerChangesOf({ type: 'og.group.deleted', groupId: 3 }),
      ledgerChangesOf({ type: 'og.membership.created', groupId: 3, member: member(bob, 'active') }),
      ledgerChangesOf({ type: 'og.membership.updated', groupId: 3, member: member(bob, 'blocked') }),
      ledgerChangesOf({ type: 'og.membership.deleted', groupId: 3, userId: 8 }),
      ledgerChangesOf({ type: 'og.group.snapshot', group: { id: 3, title: 'T', owner: ann }, members: [member(bob, 'active')] }),
    ];
    for (const changes of all) {
      expect(changes.ogId).toBe(3);
      if (changes.group) expect(changes.group.ogId).toBe(3);
      for (const write of changes.members) expect(write.ogId).toBe(3);
    }
    expect(all.filter((c) => c.completeMemberList)).toHaveLength(1);
  });
});

describe('changedOwner', () => {
  it('names the members whose rights move with the ownership', () => {
    expect(changedOwner(undefined, 7)).toEqual([7]);
    expect(changedOwner(7, 8)).toEqual([7, 8]);
    expect(changedOwner(7, 7)).toEqual([]);
    expect(changedOwner(7, undefined)).toEqual([]);
    expect(changedOwner(7, null)).toEqual([7]);
    expect(changedOwner(undefined, null)).toEqual([]);
    expect(changedOwner(undefined, undefined)).toEqual([]);
  });
});
