import { describe, expect, it } from 'vitest';
import type { LedgerMemberState } from '../src/ledger/changes.js';
import {
  aclGroupStatus,
  memberGroupStatus,
  statusWrites,
  wantOf,
  type GroupContactStatus,
  type KnownStatuses,
} from '../src/sync/memberships.js';

const STATES: LedgerMemberState[] = ['active', 'pending', 'blocked', 'deleted'];
const KNOWN: Array<GroupContactStatus | undefined> = [undefined, 'Added', 'Pending', 'Removed'];

/**
 * The contract's membership table, written out independently of the module:
 * what the member group must hold, and whether the member belongs in the ACL group.
 *
 * | OG state                        | member group | ACL group                                |
 * | active, admin                   | Added        | Added                                    |
 * | active, not admin               | Added        | not Added (Removed where a row exists)   |
 * | pending                         | Pending      | not Added (Removed where a row exists)   |
 * | blocked, or membership deleted  | Removed      | not Added (Removed where a row exists)   |
 */
const TABLE: Record<LedgerMemberState, { member: GroupContactStatus; aclAdded: (admin: boolean) => boolean }> = {
  active: { member: 'Added', aclAdded: (admin) => admin },
  pending: { member: 'Pending', aclAdded: () => false },
  blocked: { member: 'Removed', aclAdded: () => false },
  deleted: { member: 'Removed', aclAdded: () => false },
};

/** What CiviCRM must hold afterwards in the ACL group; undefined = no row (and none is made). */
function aclTarget(state: LedgerMemberState, isAdmin: boolean, known: GroupContactStatus | undefined) {
  if (TABLE[state].aclAdded(isAdmin)) return 'Added';
  return known === undefined ? undefined : 'Removed';
}

const rows = STATES.flatMap((state) =>
  [true, false].flatMap((isAdmin) =>
    KNOWN.flatMap((member) => KNOWN.map((acl) => ({ state, isAdmin, known: { member, acl } as KnownStatuses }))),
  ),
);

const label = (known: GroupContactStatus | undefined) => known ?? 'no row';

describe('the membership table', () => {
  it('covers 4 states × admin or not × 4 member × 4 ACL known statuses', () => {
    expect(rows).toHaveLength(128);
  });

  describe.each(rows)('$state, admin $isAdmin, known $known.member / $known.acl', ({ state, isAdmin, known }) => {
    const writes = statusWrites({ state, isAdmin }, known);
    const wantMember = TABLE[state].member;
    const wantAcl = aclTarget(state, isAdmin, known.acl);

    it(`member group ends ${wantMember}, written only when it differs from ${label(known.member)}`, () => {
      if (known.member === wantMember) expect(writes).not.toHaveProperty('member');
      else expect(writes.member).toBe(wantMember);
    });

    it(`ACL group ends ${label(wantAcl)}, written only when it differs from ${label(known.acl)}`, () => {
      if (wantAcl === undefined || wantAcl === known.acl) expect(writes).not.toHaveProperty('acl');
      else expect(writes.acl).toBe(wantAcl);
    });

    it('returns nothing but the two sides', () => {
      for (const key of Object.keys(writes)) expect(['member', 'acl']).toContain(key);
      for (const value of Object.values(writes)) expect(value).toBeDefined();
    });
  });
});

describe('the ACL group', () => {
  it('is Added for an active admin, whatever is known', () => {
    for (const known of KNOWN) expect(aclGroupStatus({ state: 'active', isAdmin: true }, known)).toBe('Added');
  });

  it('never gets a new Removed row', () => {
    for (const state of STATES) {
      for (const isAdmin of [true, false]) {
        if (state === 'active' && isAdmin) continue;
        expect(aclGroupStatus({ state, isAdmin }, undefined)).toBeUndefined();
        for (const member of KNOWN) expect(statusWrites({ state, isAdmin }, { member })).not.toHaveProperty('acl');
      }
    }
  });

  it('loses a demoted admin at once', () => {
    expect(statusWrites({ state: 'active', isAdmin: false }, { member: 'Added', acl: 'Added' })).toEqual({ acl: 'Removed' });
  });

  it('loses an admin who leaves, with the member group, in one go', () => {
    expect(statusWrites({ state: 'deleted', isAdmin: true }, { member: 'Added', acl: 'Added' })).toEqual({
      member: 'Removed',
      acl: 'Removed',
    });
  });

  it('loses an admin who is blocked or pending', () => {
    expect(statusWrites({ state: 'blocked', isAdmin: true }, { member: 'Added', acl: 'Added' })).toEqual({
      member: 'Removed',
      acl: 'Removed',
    });
    expect(statusWrites({ state: 'pending', isAdmin: true }, { member: 'Added', acl: 'Added' })).toEqual({
      member: 'Pending',
      acl: 'Removed',
    });
  });

  it('gets a Removed row back to Removed from Pending (a status the service never writes there)', () => {
    expect(aclGroupStatus({ state: 'active', isAdmin: false }, 'Pending')).toBe('Removed');
  });
});

describe('memberGroupStatus', () => {
  it.each([
    ['active', 'Added'],
    ['pending', 'Pending'],
    ['blocked', 'Removed'],
    ['deleted', 'Removed'],
  ] as const)('%s → %s', (state, status) => {
    expect(memberGroupStatus(state)).toBe(status);
  });
});

describe('statusWrites', () => {
  it('is empty when CiviCRM already matches', () => {
    expect(statusWrites({ state: 'active', isAdmin: true }, { member: 'Added', acl: 'Added' })).toEqual({});
    expect(statusWrites({ state: 'active', isAdmin: false }, { member: 'Added' })).toEqual({});
    expect(statusWrites({ state: 'active', isAdmin: false }, { member: 'Added', acl: 'Removed' })).toEqual({});
    expect(statusWrites({ state: 'pending', isAdmin: false }, { member: 'Pending' })).toEqual({});
    expect(statusWrites({ state: 'deleted', isAdmin: false }, { member: 'Removed', acl: 'Removed' })).toEqual({});
  });

  it('writes both sides for a new active admin', () => {
    expect(statusWrites({ state: 'active', isAdmin: true }, {})).toEqual({ member: 'Added', acl: 'Added' });
  });

  it('writes only the member side for a new plain member', () => {
    expect(statusWrites({ state: 'active', isAdmin: false }, {})).toEqual({ member: 'Added' });
    expect(statusWrites({ state: 'pending', isAdmin: false }, {})).toEqual({ member: 'Pending' });
  });

  it('promotes a pending member to Added', () => {
    expect(statusWrites({ state: 'active', isAdmin: false }, { member: 'Pending' })).toEqual({ member: 'Added' });
  });
});

describe('the group owner', () => {
  it('is an active admin whatever the membership says; others are as their membership says', () => {
    for (const state of STATES) {
      expect(wantOf({ uid: 7, state, isAdmin: false }, 7)).toEqual({ state: 'active', isAdmin: true });
      expect(wantOf({ uid: 8, state, isAdmin: false }, 7)).toEqual({ state, isAdmin: false });
      expect(wantOf({ uid: 8, state, isAdmin: true }, undefined)).toEqual({ state, isAdmin: true });
    }
  });
});
