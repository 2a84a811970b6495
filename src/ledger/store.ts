// The Store: the durable home of accepted events and of the ledger (desired state plus
// sync bookkeeping). Every method is async so that a networked database fits behind it.
import type { EventSource, EventType, OgEvent, OgUser } from '../events/model.js';
import type { LedgerMemberState } from './changes.js';

export type AcceptOutcome = 'accepted' | 'duplicate';
export type EventStatus = 'pending' | 'retrying' | 'dead' | 'done';
export type SyncState = 'dirty' | 'clean' | 'dead';

export interface EventSummary {
  id: string;
  source: EventSource;
  type: EventType;
  /** `retrying` events are listed as pending: they wait for their next attempt. */
  status: 'pending' | 'dead' | 'done';
  received_at: string;
  occurred_at: string;
  attempts: number;
  last_error: string | null;
}

export interface EventCounts {
  accepted: number;
  pending: number;
  retrying: number;
  dead: number;
  done: number;
}

export interface WorkCounts {
  groups: { dirty: number; dead: number; total: number };
  members: { dirty: number; dead: number; total: number };
}

/** What the ledger remembers of a group in CiviCRM between syncs: a hint, never the truth. */
export interface GroupCiviState {
  memberGroupId?: number;
  aclGroupId?: number;
  roleId?: number;
  roleValue?: number;
  memberTitle?: string;
  aclTitle?: string;
  active: boolean;
  objectTable: 'civicrm_group' | 'civicrm_saved_search';
}

/** Ledger row of an OG group: what it should be, and what is known of it in CiviCRM. */
export interface GroupRecord {
  ogId: number;
  /** Absent while only memberships of the group have been seen. */
  title?: string;
  description?: string;
  /** The group's owner: an active admin whatever their membership says (OG grants by ownership). */
  ownerUid?: number;
  deleted: boolean;
  changedAt: number;
  syncState: SyncState;
  dirtySeq: number;
  attempts: number;
  lastError?: string;
  /** What the last sync recorded of the group in CiviCRM. */
  civi?: GroupCiviState;
  syncedAt?: number;
}

export interface MemberRecord {
  ogId: number;
  uid: number;
  state: LedgerMemberState;
  isAdmin: boolean;
  changedAt: number;
  syncState: SyncState;
  dirtySeq: number;
  attempts: number;
  lastError?: string;
  /** GroupContact statuses last written to the member and ACL groups. */
  civiMemberStatus?: string;
  civiAclStatus?: string;
}

export interface UserRecord extends OgUser {
  contactId?: number;
  /** The contact is the user's through a UFMatch (found by it, or made with it). */
  contactLinked?: boolean;
}

/** A user's contact as resolved in CiviCRM; `null` forgets the one cached. */
export interface ContactLink {
  uid: number;
  contactId: number | null;
  linked?: boolean;
}

/** One claimed group's work: the group and the members due now. */
export interface GroupWork {
  group: GroupRecord;
  members: MemberRecord[];
  users: Map<number, UserRecord>;
}

/**
 * What a worker's claim found: a group's work under a lease, and how long until the next group
 * with work is due (0: now; absent: no other group has work); or, when the only groups with work
 * are resting after their last sync, how long until the first is due; or nothing to do.
 */
export type Claimed = { lease: Lease; work: GroupWork; nextDueMs?: number } | { restingMs: number } | undefined;

export interface Failure {
  error: string;
  /** When to try again; absent means the item is dead. */
  retryAt?: number;
  /**
   * The change the failed attempt worked on. When a newer change arrived meanwhile, the
   * failure is not recorded: the newer change gets its own fresh attempts.
   */
  dirtySeq?: number;
}

/**
 * A claim on one OG group. `token` is the fencing token: it grows with every claim of the
 * group, so a result recorded under an older one is refused.
 */
export interface Lease {
  readonly ogId: number;
  readonly owner: string;
  readonly token: number;
}

/** The lease's group was claimed again since: the holder must stop working on it. */
export class LeaseLost extends Error {
  constructor(readonly lease: Lease) {
    super(`the lease of OG group ${lease.ogId} was lost: it was claimed again since`);
    this.name = 'LeaseLost';
  }
}

export interface MemberSynced {
  uid: number;
  dirtySeq: number;
  civiMemberStatus?: string;
  civiAclStatus?: string;
}

/** The event log and its door: what webhooks, the operator API and backfill write through. */
export interface EventLog {
  /**
   * Records the event and its ledger effect in one transaction. Rejects with Refused (and
   * stores nothing) when the admission rules (events/admission.ts) refuse the event.
   */
  accept(event: OgEvent): Promise<AcceptOutcome>;
  /** Resolves when the store can take a write; rejects otherwise. */
  checkWritable(): Promise<void>;
  /** Puts the items an event touched back to be synced; false for an unknown id. */
  replay(eventId: string): Promise<boolean>;
  /**
   * Deletes up to `limit` settled events received before `receivedBefore`, oldest first, with
   * their targets; returns how many. Unsettled (pending, retrying, dead) events are kept.
   */
  pruneEvents(receivedBefore: number, limit: number): Promise<number>;
}

/** What the operator API and /metrics count and list; each costs the unsettled work, not the log. */
export interface OperatorQueries {
  eventCounts(): Promise<EventCounts>;
  workCounts(): Promise<WorkCounts>;
  /**
   * Events newest first. `before` (an event id, the last of the page before) pages back through
   * settled events (`status: 'done'`); an unknown one gives nothing.
   */
  listEvents(filter: { status?: 'pending' | 'dead' | 'done'; limit: number; before?: string }): Promise<EventSummary[]>;
  /**
   * OG groups by id, after `after`: of one sync state, and/or matching `q` (the OG id, or a part of
   * the title in any case).
   */
  listGroups(filter: { state?: SyncState; q?: string; limit: number; after?: number }): Promise<GroupRecord[]>;
  /** A group's members by uid, after `after`, of one sync state. */
  listMembers(ogId: number, filter: { state?: SyncState; limit: number; after?: number }): Promise<MemberRecord[]>;
}

/** The desired state as it stands. */
export interface LedgerReads {
  group(ogId: number): Promise<GroupRecord | undefined>;
  groupIds(): Promise<number[]>;
  members(ogId: number): Promise<MemberRecord[]>;
  users(uids: number[]): Promise<Map<number, UserRecord>>;
}

/** Work for the reconcilers: claims and leases on groups, and marks that make work. */
export interface WorkQueue {
  /**
   * Leases one group that has work due (retries due by `now`); undefined when there is none.
   * Lease times are the store's clock, never the caller's: hosts whose clocks differ still
   * agree on whether a lease has run out.
   */
  claimGroup(owner: string, now: number, leaseMs: number): Promise<Lease | undefined>;
  /** Leases one given group, for work outside the worker (an audit); undefined while someone holds it. */
  leaseGroup(ogId: number, owner: string, leaseMs: number): Promise<Lease | undefined>;
  /** Extends a lease its holder still holds; false when it was lost. */
  renewLease(lease: Lease, leaseMs: number): Promise<boolean>;
  /** Lets a lease go; the worker claims the group again only after `restMs` (audits at once). */
  releaseGroup(lease: Lease, restMs?: number): Promise<void>;
  loadWork(ogId: number, now: number, memberLimit: number): Promise<GroupWork | undefined>;
  /** claimGroup and loadWork in one transaction; or how long until a resting group is due. */
  claimWork(owner: string, now: number, leaseMs: number, memberLimit: number): Promise<Claimed>;
  /**
   * Takes the group re-observed longest ago, if that was before `dueBefore` (or never), and
   * records `now` as its resync time, so that no other replica takes it too.
   */
  claimResync(now: number, dueBefore: number): Promise<number | undefined>;
  /** Marks a group and all its members to be synced again; 0 for an unknown group. */
  markForReconcile(ogId: number): Promise<number>;
  /** The store's clock in epoch milliseconds: the one every replica's due times are read on. */
  clock(): Promise<number>;
}

/**
 * What a reconciler records of its work. Each write under a lease is fenced by its token: when
 * the group was claimed again since, it changes nothing and rejects with LeaseLost.
 */
export interface SyncResults {
  /**
   * Records the group's CiviCRM state. `madeAnew`: its member or ACL group replaces the one recorded
   * before: the statuses known for its members are forgotten, and the members marked dirty, in the
   * same commit.
   */
  groupSynced(lease: Lease, dirtySeq: number, civi: GroupCiviState, now: number, options?: { madeAnew?: boolean }): Promise<void>;
  groupFailed(lease: Lease, failure: Failure): Promise<void>;
  membersSynced(lease: Lease, synced: MemberSynced[]): Promise<void>;
  memberFailed(lease: Lease, uid: number, failure: Failure): Promise<void>;
  /** A batch's member results and the release of the lease, in one transaction. */
  finishMembers(lease: Lease, synced: MemberSynced[], failed: Array<{ uid: number; failure: Failure }>, restMs?: number): Promise<void>;
  /**
   * Records the GroupContact statuses really found in CiviCRM for members (absent = no row);
   * `markForSync`: and marks the group and every member to be synced again, in the same commit.
   */
  setKnownStatuses(lease: Lease, statuses: Array<{ uid: number; member?: string; acl?: string }>, options?: { markForSync?: boolean }): Promise<void>;
  /**
   * The contacts users resolved to; not fenced: a user's contact is the same whoever finds it. A
   * contact left behind (forgotten, `null`, or replaced by another) takes the statuses known for
   * it in every group with it, and the clean memberships concerned are written again.
   */
  saveContacts(links: ContactLink[]): Promise<void>;
}

/** What the reconcilers use: the work queue, the ledger as it stands, and their results. */
export type SyncStore = WorkQueue & LedgerReads & SyncResults;

/** The whole store, as start-up opens it; each caller depends on the roles it uses. */
export interface Store extends EventLog, OperatorQueries, LedgerReads, WorkQueue, SyncResults {
  /** Creates or updates the schema; returns the versions applied now. */
  migrate(): Promise<number[]>;
  close(): Promise<void>;
}
