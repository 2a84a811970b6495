// What an event means for the ledger, computed without a database: the writes a store
// applies in the event's transaction. Ordering (older never overwrites newer) is the
// store's job, because only it knows what was applied before.
import type { OgChange, OgGroup, OgMember, OgUser } from '../events/model.js';

/** Desired OG membership state; `deleted` is a state, not a missing row. */
export type LedgerMemberState = OgMember['state'] | 'deleted';

export interface GroupWrite {
  ogId: number;
  /** Absent for a deletion, which keeps the last known title. */
  title?: string;
  description?: string;
  /**
   * The group's owner, an active admin whatever their membership says (the store gives them a
   * membership row to sync when they have none); absent keeps the last one, `null` clears it.
   */
  ownerUid?: number | null;
  deleted: boolean;
}

export interface MemberWrite {
  ogId: number;
  uid: number;
  state: LedgerMemberState;
  isAdmin: boolean;
}

export interface LedgerChanges {
  ogId: number;
  group?: GroupWrite;
  members: MemberWrite[];
  /** Profiles to remember for contact matching and creation. */
  users: OgUser[];
  /** A snapshot: members of the group missing from `members` become deleted. */
  completeMemberList: boolean;
}

/** Translates a normalized event into ledger writes. */
export function ledgerChangesOf(change: OgChange): LedgerChanges {
  switch (change.type) {
    case 'og.group.created':
    case 'og.group.updated': {
      const { group } = change;
      return {
        ogId: group.id,
        group: groupWrite(group),
        members: [],
        users: group.owner ? [group.owner] : [],
        completeMemberList: false,
      };
    }
    case 'og.group.deleted':
      return {
        ogId: change.groupId,
        group: { ogId: change.groupId, deleted: true },
        members: [],
        users: [],
        completeMemberList: false,
      };
    case 'og.membership.created':
    case 'og.membership.updated':
      return {
        ogId: change.groupId,
        members: [memberWrite(change.groupId, change.member)],
        users: [change.member.user],
        completeMemberList: false,
      };
    case 'og.membership.deleted':
      return {
        ogId: change.groupId,
        members: [{ ogId: change.groupId, uid: change.userId, state: 'deleted', isAdmin: false }],
        users: [],
        completeMemberList: false,
      };
    case 'og.group.snapshot': {
      const { group } = change;
      // One write per uid, a later duplicate winning. The owner's entry is their membership as OG
      // lists it: ownership, not the membership, makes them an admin, and outlasts no transfer.
      const byUid = new Map<number, MemberWrite>();
      for (const member of change.members) byUid.set(member.user.id, memberWrite(group.id, member));
      return {
        ogId: group.id,
        group: groupWrite(group),
        members: [...byUid.values()],
        users: [...change.members.map((m) => m.user), ...(group.owner ? [group.owner] : [])],
        completeMemberList: true,
      };
    }
  }
}

function groupWrite(group: OgGroup): GroupWrite {
  return {
    ogId: group.id,
    title: group.title,
    ...(group.description !== undefined && { description: group.description }),
    ...(group.owner !== undefined && { ownerUid: group.owner?.id ?? null }),
    deleted: false,
  };
}

function memberWrite(ogId: number, member: OgMember): MemberWrite {
  return { ogId, uid: member.user.id, state: member.state, isAdmin: member.isAdmin };
}

/**
 * The members whose rights change when a group's owner goes from `before` to `next` (undefined:
 * not said; null: none).
 */
export function changedOwner(before: number | undefined, next: number | null | undefined): number[] {
  if (next === undefined || next === before) return [];
  return [before, next].filter((uid): uid is number => typeof uid === 'number');
}
