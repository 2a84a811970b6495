// The membership table of the contract: which GroupContact status each OG membership
// state asks for in the member group and in the ACL group. Pure.
import type { LedgerMemberState } from '../ledger/changes.js';

export type GroupContactStatus = 'Added' | 'Pending' | 'Removed';

export interface MembershipWant {
  state: LedgerMemberState;
  isAdmin: boolean;
}

export interface KnownStatuses {
  member?: GroupContactStatus;
  acl?: GroupContactStatus;
}

/** The statuses to write now; a side is absent when CiviCRM already has the right one. */
export interface StatusWrites {
  member?: GroupContactStatus;
  acl?: GroupContactStatus;
}

/**
 * What OG grants a member: the group's owner is an active admin whatever the membership says.
 * OG gives its owner access by ownership (Gizra/og src/OgAccess.php), and the membership OG
 * makes for the owner (og_entity_insert) carries no administrator role.
 */
export function wantOf(member: MembershipWant & { uid: number }, ownerUid: number | undefined): MembershipWant {
  return member.uid === ownerUid ? { state: 'active', isAdmin: true } : { state: member.state, isAdmin: member.isAdmin };
}

export function memberGroupStatus(state: LedgerMemberState): GroupContactStatus {
  if (state === 'active') return 'Added';
  if (state === 'pending') return 'Pending';
  return 'Removed';
}

/**
 * The ACL group holds active admins only. Anyone else is "not Added": a row that exists
 * is set Removed, and none is made for someone who was never in it.
 */
export function aclGroupStatus(want: MembershipWant, known: GroupContactStatus | undefined): GroupContactStatus | undefined {
  if (want.state === 'active' && want.isAdmin) return 'Added';
  return known === undefined ? undefined : 'Removed';
}

export function statusWrites(want: MembershipWant, known: KnownStatuses): StatusWrites {
  const member = memberGroupStatus(want.state);
  const acl = aclGroupStatus(want, known.acl);
  return {
    ...(member !== known.member && { member }),
    ...(acl !== undefined && acl !== known.acl && { acl }),
  };
}

export type Side = 'member' | 'acl';

/** A ledger member as the audit sees it: wanted state and, when known, its contact. */
export interface AuditedMember extends MembershipWant {
  uid: number;
  contactId?: number;
}

/** GroupContact statuses actually in CiviCRM, by contact id, for each group. */
export interface ActualRows {
  member: Map<number, GroupContactStatus>;
  acl: Map<number, GroupContactStatus>;
}

export interface MembershipDrift {
  /** Ledger members whose rows differ from what they should be. */
  wrong: Array<{ uid: number; contactId: number; side: Side; actual?: GroupContactStatus; wanted: GroupContactStatus }>;
  /** Contacts in a synced group (Added or Pending) that no ledger member accounts for. */
  extra: Array<{ contactId: number; side: Side; actual: GroupContactStatus }>;
}

/**
 * Compares the ledger with the rows CiviCRM really has. OG is the source of truth: a
 * missing row is wrong, and so is a contact in the group whom OG does not have there.
 * A Removed (or absent) row satisfies every "not Added".
 */
export function membershipDrift(members: AuditedMember[], actual: ActualRows): MembershipDrift {
  const drift: MembershipDrift = { wrong: [], extra: [] };
  const accounted = new Set<number>();
  for (const m of members) {
    if (m.contactId === undefined) continue;
    accounted.add(m.contactId);
    const wanted: Record<Side, GroupContactStatus> = {
      member: memberGroupStatus(m.state),
      acl: m.state === 'active' && m.isAdmin ? 'Added' : 'Removed',
    };
    for (const side of ['member', 'acl'] as const) {
      const current = actual[side].get(m.contactId);
      const satisfied = current === wanted[side] || (wanted[side] === 'Removed' && current === undefined);
      if (!satisfied) drift.wrong.push({ uid: m.uid, contactId: m.contactId, side, actual: current, wanted: wanted[side] });
    }
  }
  for (const side of ['member', 'acl'] as const) {
    for (const [contactId, status] of actual[side]) {
      if (!accounted.has(contactId) && status !== 'Removed') drift.extra.push({ contactId, side, actual: status });
    }
  }
  return drift;
}
