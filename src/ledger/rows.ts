// The ledger's tables as rows, and their mapping to the Store's records: one definition
// for both stores.
import type { OgUser } from '../events/model.js';
import type { LedgerMemberState } from './changes.js';
import type { Failure, GroupCiviState, GroupRecord, MemberRecord, SyncState, UserRecord } from './store.js';

export interface GroupRow {
  og_id: number;
  title: string | null;
  description: string | null;
  deleted: number;
  owner_uid: number | null;
  changed_at: number;
  sync_state: SyncState;
  dirty_seq: number;
  attempts: number;
  last_error: string | null;
  civi: string | null;
  synced_at: number | null;
}

export interface MemberRow {
  og_id: number;
  uid: number;
  state: LedgerMemberState;
  is_admin: number;
  changed_at: number;
  sync_state: SyncState;
  dirty_seq: number;
  attempts: number;
  last_error: string | null;
  civi_member_status: string | null;
  civi_acl_status: string | null;
}

export interface UserRow {
  uid: number;
  email: string | null;
  first_name: string | null;
  last_name: string | null;
  contact_id: number | null;
  contact_linked: number | null;
}

/**
 * The columns a row type holds, named rather than `*`: a statement's answer keeps its shape when
 * a migration adds a column, which PostgreSQL requires of a prepared statement. Listing them as
 * a record's keys makes a missing or unknown column a compile error.
 */
const columns = <Row>(names: Record<keyof Row, true>): string => Object.keys(names).join(', ');

export const GROUP_COLUMNS = columns<GroupRow>({
  og_id: true,
  title: true,
  description: true,
  deleted: true,
  owner_uid: true,
  changed_at: true,
  sync_state: true,
  dirty_seq: true,
  attempts: true,
  last_error: true,
  civi: true,
  synced_at: true,
});

export const MEMBER_COLUMNS = columns<MemberRow>({
  og_id: true,
  uid: true,
  state: true,
  is_admin: true,
  changed_at: true,
  sync_state: true,
  dirty_seq: true,
  attempts: true,
  last_error: true,
  civi_member_status: true,
  civi_acl_status: true,
});

export const USER_COLUMNS = columns<UserRow>({ uid: true, email: true, first_name: true, last_name: true, contact_id: true, contact_linked: true });

/** A placeholder group row loses to any real group event. */
export const PLACEHOLDER_CHANGED_AT = -1;

/** Due now, no attempts, no error: as a clean item is, and a dirty one starts. */
export const FRESH_ATTEMPTS = 'attempts = 0, next_attempt_at = 0, last_error = NULL';

/** A fresh start for an item's sync. */
export const RESET_SYNC = `sync_state = 'dirty', ${FRESH_ATTEMPTS}`;

export const failureState = (failure: Failure): SyncState => (failure.retryAt === undefined ? 'dead' : 'dirty');

export function groupRecord(row: GroupRow): GroupRecord {
  return {
    ogId: row.og_id,
    ...(row.title !== null && { title: row.title }),
    ...(row.description !== null && { description: row.description }),
    deleted: row.deleted === 1,
    ...(row.owner_uid !== null && row.owner_uid !== undefined && { ownerUid: Number(row.owner_uid) }),
    changedAt: row.changed_at,
    syncState: row.sync_state,
    dirtySeq: row.dirty_seq,
    attempts: row.attempts,
    ...(row.last_error !== null && { lastError: row.last_error }),
    ...(row.civi !== null && { civi: JSON.parse(row.civi) as GroupCiviState }),
    ...(row.synced_at !== null && { syncedAt: row.synced_at }),
  };
}

export function memberRecord(row: MemberRow): MemberRecord {
  return {
    ogId: row.og_id,
    uid: row.uid,
    state: row.state,
    isAdmin: row.is_admin === 1,
    changedAt: row.changed_at,
    syncState: row.sync_state,
    dirtySeq: row.dirty_seq,
    attempts: row.attempts,
    ...(row.last_error !== null && { lastError: row.last_error }),
    ...(row.civi_member_status !== null && { civiMemberStatus: row.civi_member_status }),
    ...(row.civi_acl_status !== null && { civiAclStatus: row.civi_acl_status }),
  };
}

export function userRecord(row: UserRow): UserRecord {
  const user: UserRecord & OgUser = { id: row.uid };
  if (row.email !== null) user.email = row.email;
  if (row.first_name !== null) user.firstName = row.first_name;
  if (row.last_name !== null) user.lastName = row.last_name;
  if (row.contact_id !== null) user.contactId = row.contact_id;
  if (row.contact_id !== null && row.contact_linked === 1) user.contactLinked = true;
  return user;
}
