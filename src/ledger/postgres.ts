// The shared store: PostgreSQL through a pg Pool, for several replicas on one database.
//
// Semantics are SqliteStore's, method for method. Where SQLite relied on being the only
// writer, this store takes locks, always in the same order so that replicas cannot deadlock:
//
//   1. advisory locks, taken by whoever takes a sequence number (accept, replay, the reconcile
//      and forget marks): the all-groups lock (shared; exclusive to mark every group), then the
//      group's lock. Writers of one group run one after another, so its sequence numbers grow
//      in commit order, as SQLite's single writer makes them;
//   2. og_groups rows, by og_id;
//   3. users rows, by uid;
//   4. og_members rows of groups already locked;
//   5. last, one event_counter row (by the accepted event's seq).
//
// The pruning of settled events takes no group locks: the events it deletes belong to no
// unclean item, and their targets are only ever read.
//
// Every transaction runs at READ COMMITTED: single-statement upserts re-check their WHERE
// against the newest row version, and the locks above order what spans several statements.
import pg from 'pg';
import type { CustomTypesConfig, PoolClient } from 'pg';
import { admit } from '../events/admission.js';
import type { OgEvent } from '../events/model.js';
import { changedOwner, ledgerChangesOf, type LedgerChanges } from './changes.js';
import {
  eventCountsOf,
  eventStatusSql,
  eventSummary,
  listingQuery,
  prunableEvents,
  UNSETTLED_EVENTS,
  type EventRow,
} from './event-status.js';
import { migrations } from './migrations.js';
import {
  ACCEPTED_TOTAL,
  countAccepted,
  failureState,
  groupRecord,
  memberRecord,
  PLACEHOLDER_CHANGED_AT,
  RESET_SYNC,
  userRecord,
  type GroupRow,
  type MemberRow,
  type UserRow,
} from './rows.js';
import {
  LeaseLost,
  type AcceptOutcome,
  type ContactLink,
  type EventCounts,
  type EventSummary,
  type Failure,
  type GroupRecord,
  type GroupWork,
  type Lease,
  type MemberRecord,
  type MemberSynced,
  type Store,
  type UserRecord,
  type WorkCounts,
} from './store.js';

type Queryable = Pick<PoolClient, 'query'>;

/** The database server's clock, in epoch milliseconds: the one clock every replica's leases use. */
const STORE_NOW = '(extract(epoch FROM clock_timestamp()) * 1000)::bigint';


/** Advisory lock keys are 64-bit hashes of these names. */
const MIGRATE_LOCK = 'og-civicrm-sync:migrate';
const ALL_GROUPS_LOCK = 'og-civicrm-sync:groups';
const groupLock = (ogId: number) => `og-civicrm-sync:group:${ogId}`;

/** SQLSTATEs after which a whole transaction may simply run again. */
const RETRYABLE = new Set(['40001', '40P01']); // serialization_failure, deadlock_detected
const ATTEMPTS = 3;

/**
 * BIGINT comes back from pg as a string. Every BIGINT here (ids, sequence numbers, epoch
 * milliseconds, counts) is a safe integer, so it becomes a number; anything else is an error.
 */
function parseBigint(text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw new Error(`BIGINT ${text} is beyond Number.MAX_SAFE_INTEGER`);
  return value;
}

const types: CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === pg.types.builtins.INT8 && format !== 'binary'
      ? parseBigint
      : pg.types.getTypeParser(oid, format)) as CustomTypesConfig['getTypeParser'],
};

/** The URL without user, password or parameters: safe to print. */
export function describeDatabaseUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
  } catch {
    return 'postgres://<unparsable URL>';
  }
}

export class PostgresStore implements Store {
  private readonly pool: pg.Pool;
  private closed = false;

  constructor(url: string) {
    this.pool = new pg.Pool({ connectionString: url, types, connectionTimeoutMillis: 10_000 });
    // A pooled idle connection that breaks (a database restart) is dropped by the pool; the
    // next query opens a new one or fails on its own. Without a listener the error would
    // crash the process.
    this.pool.on('error', () => {});
  }

  /**
   * A store whose database answered: start-up fails at once, with one clear line that names
   * the server but never the credentials, rather than at the first request.
   */
  static async open(url: string): Promise<PostgresStore> {
    let store: PostgresStore | undefined;
    try {
      store = new PostgresStore(url);
      await store.pool.query('SELECT 1');
      return store;
    } catch (error) {
      await store?.close().catch(() => {});
      let message = (error as Error).message || String(error);
      for (const secret of passwordsOf(url)) message = message.split(secret).join('***');
      throw new Error(`PostgreSQL at ${describeDatabaseUrl(url)} did not answer: ${message}`);
    }
  }

  async migrate(): Promise<number[]> {
    return this.transaction(async (db) => {
      // Replicas starting at once: the first migrates, the others wait here and find it done.
      await db.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [MIGRATE_LOCK]);
      await db.query(
        'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)',
      );
      const done = new Set((await db.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map((r) => r.version));
      const applied: number[] = [];
      for (const migration of migrations) {
        if (done.has(migration.version)) continue;
        await db.query(migration.sql.postgres);
        await db.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [
          migration.version,
          migration.name,
          new Date().toISOString(),
        ]);
        applied.push(migration.version);
      }
      return applied;
    });
  }

  async accept(event: OgEvent): Promise<AcceptOutcome> {
    admit(event);
    const changes = ledgerChangesOf(event.change);
    return this.transaction(async (db) => {
      // Taken before the event gets its sequence number: see the lock order at the top.
      await lockForSeq(db, changes.ogId);
      const inserted = await db.query<{ seq: number }>(
        `INSERT INTO events (id, source, type, occurred_at, received_at, change) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (id) DO NOTHING RETURNING seq`,
        [event.id, event.source, event.change.type, event.occurredAt, event.receivedAt, JSON.stringify(event.change)],
      );
      const seq = inserted.rows[0]?.seq;
      if (seq === undefined) return 'duplicate';
      await applyChanges(db, changes, event.occurredAt, seq);
      await db.query(countAccepted('$1::bigint'), [seq]);
      return 'accepted';
    });
  }

  async checkWritable(): Promise<void> {
    // A real write: fails on a closed pool, an unreachable server, a hot standby, a full disk.
    await this.pool.query('INSERT INTO store_probe (id, at) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET at = excluded.at', [Date.now()]);
  }

  async eventCounts(): Promise<EventCounts> {
    const total = await this.pool.query<{ n: number }>(ACCEPTED_TOTAL);
    const { rows } = await this.pool.query<{ status: EventRow['status']; n: number }>(
      `SELECT status, count(*) AS n FROM (${eventStatusSql(UNSETTLED_EVENTS)}) statuses GROUP BY status`,
    );
    return eventCountsOf(Number(total.rows[0]!.n), rows);
  }

  async workCounts(): Promise<WorkCounts> {
    type Counts = { total: number; dirty: number; dead: number };
    const groups = await this.pool.query<Counts>(
      `SELECT count(*) AS total, count(*) FILTER (WHERE sync_state = 'dirty') AS dirty, count(*) FILTER (WHERE sync_state = 'dead') AS dead
       FROM og_groups`,
    );
    // Members of a dead group wait for it: they count as dead, not as work in progress.
    const members = await this.pool.query<Counts>(
      `SELECT count(*) AS total,
         count(*) FILTER (WHERE m.sync_state = 'dirty' AND g.sync_state <> 'dead') AS dirty,
         count(*) FILTER (WHERE m.sync_state = 'dead' OR (m.sync_state = 'dirty' AND g.sync_state = 'dead')) AS dead
       FROM og_members m JOIN og_groups g ON g.og_id = m.og_id`,
    );
    return { groups: groups.rows[0]!, members: members.rows[0]! };
  }

  async listEvents(filter: { status?: 'pending' | 'dead' | 'done'; limit: number; before?: string }): Promise<EventSummary[]> {
    let beforeSeq: number | undefined;
    if (filter.before !== undefined) {
      beforeSeq = (await this.pool.query<{ seq: number }>('SELECT seq FROM events WHERE id = $1', [filter.before])).rows[0]?.seq;
      if (beforeSeq === undefined) return [];
    }
    const { sql, statuses } = listingQuery({ ...filter, beforeSeq });
    const { rows } = statuses
      ? await this.pool.query<EventRow>(
          `SELECT * FROM (${sql}) statuses WHERE status = ANY($1::text[]) ORDER BY seq DESC LIMIT $2`,
          [statuses, filter.limit],
        )
      : await this.pool.query<EventRow>(`SELECT * FROM (${sql}) statuses ORDER BY seq DESC LIMIT $1`, [filter.limit]);
    return rows.map(eventSummary);
  }

  async pruneEvents(receivedBefore: number, limit: number): Promise<number> {
    return this.transaction(async (db) => {
      const seqs = (await db.query<{ seq: number }>(prunableEvents(receivedBefore, limit))).rows.map((r) => r.seq);
      await db.query('DELETE FROM event_targets WHERE event_seq = ANY($1::bigint[])', [seqs]);
      await db.query('DELETE FROM events WHERE seq = ANY($1::bigint[])', [seqs]);
      return seqs.length;
    });
  }

  async replay(eventId: string): Promise<boolean> {
    return this.transaction(async (db) => {
      const event = (await db.query<{ seq: number }>('SELECT seq FROM events WHERE id = $1', [eventId])).rows[0];
      if (!event) return false;
      const targets = (
        await db.query<{ og_id: number; uid: number }>('SELECT og_id, uid FROM event_targets WHERE event_seq = $1 ORDER BY og_id, uid', [
          event.seq,
        ])
      ).rows;
      const ogIds = [...new Set(targets.map((t) => t.og_id))];
      for (const ogId of ogIds) await lockForSeq(db, ogId);
      await lockGroups(db, ogIds);
      const seq = await nextSeq(db);
      for (const t of targets) {
        // A membership cannot be synced while its group is dead: the group gets another chance too.
        await db.query(`UPDATE og_groups SET dirty_seq = $1, ${RESET_SYNC} WHERE og_id = $2 AND sync_state = 'dead'`, [seq, t.og_id]);
        // A replayed event, and the ones after it, show as pending until the item is synced again.
        if (t.uid === 0) {
          await db.query(`UPDATE og_groups SET dirty_seq = $1, synced_seq = LEAST(synced_seq, $2 - 1), ${RESET_SYNC} WHERE og_id = $3`, [
            seq,
            event.seq,
            t.og_id,
          ]);
        } else {
          await db.query(
            `UPDATE og_members SET dirty_seq = $1, synced_seq = LEAST(synced_seq, $2 - 1), ${RESET_SYNC} WHERE og_id = $3 AND uid = $4`,
            [seq, event.seq, t.og_id, t.uid],
          );
        }
      }
      return true;
    });
  }

  async markForReconcile(ogId: number | undefined): Promise<number> {
    return this.transaction(async (db) => {
      // Every group: accepts wait for this short transaction, as they wait for SQLite's writer.
      if (ogId === undefined) await db.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [ALL_GROUPS_LOCK]);
      else await lockForSeq(db, ogId);
      const groups =
        ogId === undefined
          ? (await db.query<{ og_id: number }>('SELECT og_id FROM og_groups ORDER BY og_id FOR UPDATE')).rows
          : (await db.query<{ og_id: number }>('SELECT og_id FROM og_groups WHERE og_id = $1 FOR UPDATE', [ogId])).rows;
      const ids = groups.map((g) => g.og_id);
      if (ids.length === 0) return 0;
      // Re-marking an item keeps what its events already achieved (synced_seq): only the work is new.
      const seq = await nextSeq(db);
      await db.query(`UPDATE og_groups SET dirty_seq = $1, ${RESET_SYNC} WHERE og_id = ANY($2::bigint[])`, [seq, ids]);
      await db.query(`UPDATE og_members SET dirty_seq = $1, ${RESET_SYNC} WHERE og_id = ANY($2::bigint[])`, [seq, ids]);
      return ids.length;
    });
  }

  async group(ogId: number): Promise<GroupRecord | undefined> {
    const row = (await this.pool.query<GroupRow>('SELECT * FROM og_groups WHERE og_id = $1', [ogId])).rows[0];
    return row && groupRecord(row);
  }

  async groupIds(): Promise<number[]> {
    return (await this.pool.query<{ og_id: number }>('SELECT og_id FROM og_groups ORDER BY og_id')).rows.map((r) => r.og_id);
  }

  async members(ogId: number): Promise<MemberRecord[]> {
    const { rows } = await this.pool.query<MemberRow>('SELECT * FROM og_members WHERE og_id = $1 ORDER BY uid', [ogId]);
    return rows.map(memberRecord);
  }

  async user(uid: number): Promise<UserRecord | undefined> {
    const row = (await this.pool.query<UserRow>('SELECT * FROM users WHERE uid = $1', [uid])).rows[0];
    return row && userRecord(row);
  }

  async users(uids: number[]): Promise<Map<number, UserRecord>> {
    return usersOf(this.pool, uids);
  }

  async leaseGroup(ogId: number, owner: string, leaseMs: number): Promise<Lease | undefined> {
    const { rows } = await this.pool.query<{ lease_token: number }>(
      `UPDATE og_groups SET lease_owner = $1, lease_until = ${STORE_NOW} + $2, lease_token = lease_token + 1
       WHERE og_id = $3 AND lease_until <= ${STORE_NOW} RETURNING lease_token`,
      [owner, leaseMs, ogId],
    );
    return rows[0] && { ogId, owner, token: rows[0].lease_token };
  }

  async renewLease(lease: Lease, leaseMs: number): Promise<boolean> {
    const renewed = await this.pool.query(
      `UPDATE og_groups SET lease_until = ${STORE_NOW} + $1 WHERE og_id = $2 AND lease_token = $3 AND lease_owner = $4`,
      [leaseMs, lease.ogId, lease.token, lease.owner],
    );
    return renewed.rowCount === 1;
  }

  /**
   * Runs result writes in one transaction only while the lease's token is the group's. The
   * check locks the group row (lock order step 2) until commit, so no claim comes between.
   * `seqLock` first takes the group's advisory lock, for writes that take a sequence number.
   */
  private fenced<T>(lease: Lease, write: (db: Queryable) => Promise<T>, { seqLock = false } = {}): Promise<T> {
    return this.transaction(async (db) => {
      if (seqLock) await lockForSeq(db, lease.ogId);
      const held = await db.query('SELECT 1 FROM og_groups WHERE og_id = $1 AND lease_token = $2 FOR UPDATE', [lease.ogId, lease.token]);
      if (held.rowCount !== 1) throw new LeaseLost(lease);
      return write(db);
    });
  }

  async setKnownStatuses(lease: Lease, statuses: Array<{ uid: number; member?: string; acl?: string }>): Promise<void> {
    await this.fenced(lease, async (db) => {
      for (const s of statuses) {
        await db.query('UPDATE og_members SET civi_member_status = $1, civi_acl_status = $2 WHERE og_id = $3 AND uid = $4', [
          s.member ?? null,
          s.acl ?? null,
          lease.ogId,
          s.uid,
        ]);
      }
    });
  }

  async claimResync(now: number, dueBefore: number): Promise<number | undefined> {
    const { rows } = await this.pool.query<{ og_id: number }>(
      `UPDATE og_groups SET resynced_at = $1
       WHERE og_id = (SELECT og_id FROM og_groups WHERE deleted = 0 AND coalesce(resynced_at, 0) < $2
                      ORDER BY coalesce(resynced_at, 0), og_id LIMIT 1 FOR UPDATE SKIP LOCKED)
       RETURNING og_id`,
      [now, dueBefore],
    );
    return rows[0]?.og_id;
  }

  async claimGroup(owner: string, now: number, leaseMs: number): Promise<Lease | undefined> {
    // Due work is found from the dirty items (indexed), not by visiting every group.
    // SKIP LOCKED: a group another replica is claiming right now is passed over, never waited
    // for; one it claimed a moment ago fails the lease_until check on its newest version.
    const { rows } = await this.pool.query<{ og_id: number; lease_token: number }>(
      `UPDATE og_groups SET lease_owner = $1, lease_until = ${STORE_NOW} + $2, lease_token = lease_token + 1
       WHERE og_id = (
         SELECT g.og_id FROM og_groups g
         JOIN (SELECT og_id FROM og_groups WHERE sync_state = 'dirty' AND next_attempt_at <= $3
               UNION
               SELECT og_id FROM og_members WHERE sync_state = 'dirty' AND next_attempt_at <= $3) due
           ON due.og_id = g.og_id
         WHERE g.lease_until <= ${STORE_NOW} AND g.sync_state <> 'dead' AND g.next_attempt_at <= $3
         ORDER BY g.lease_until, g.og_id
         LIMIT 1
         FOR UPDATE OF g SKIP LOCKED)
       RETURNING og_id, lease_token`,
      [owner, leaseMs, now],
    );
    const claimed = rows[0];
    return claimed && { ogId: claimed.og_id, owner, token: claimed.lease_token };
  }

  async loadWork(ogId: number, now: number, memberLimit: number): Promise<GroupWork | undefined> {
    // One snapshot for the group, its members and their users, as SQLite's read transaction gives.
    return this.transaction(async (db) => {
      const group = (await db.query<GroupRow>('SELECT * FROM og_groups WHERE og_id = $1', [ogId])).rows[0];
      if (!group) return undefined;
      const members = (
        await db.query<MemberRow>(
          `SELECT * FROM og_members WHERE og_id = $1 AND sync_state = 'dirty' AND next_attempt_at <= $2
           ORDER BY uid LIMIT $3`,
          [ogId, now, memberLimit],
        )
      ).rows;
      return { group: groupRecord(group), members: members.map(memberRecord), users: await usersOf(db, members.map((m) => m.uid)) };
    }, 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  }

  async groupSynced(lease: Lease, dirtySeq: number, civi: unknown, now: number): Promise<void> {
    await this.fenced(lease, (db) =>
      db.query(
        `UPDATE og_groups SET civi = $1, synced_at = $2, synced_seq = GREATEST(synced_seq, $3), attempts = 0, next_attempt_at = 0,
           last_error = NULL, sync_state = CASE WHEN dirty_seq = $3 THEN 'clean' ELSE 'dirty' END
         WHERE og_id = $4`,
        [JSON.stringify(civi), now, dirtySeq, lease.ogId],
      ),
    );
  }

  async groupFailed(lease: Lease, failure: Failure): Promise<void> {
    await this.fenced(lease, (db) =>
      db.query(
        `UPDATE og_groups SET attempts = attempts + 1, last_error = $1, sync_state = $2, next_attempt_at = $3
         WHERE og_id = $4 AND ($5::bigint IS NULL OR dirty_seq = $5)`,
        [failure.error, failureState(failure), failure.retryAt ?? 0, lease.ogId, failure.dirtySeq ?? null],
      ),
    );
  }

  async membersSynced(lease: Lease, synced: MemberSynced[]): Promise<void> {
    const ogId = lease.ogId;
    await this.fenced(lease, async (db) => {
      for (const m of synced) {
        await db.query(
          `UPDATE og_members SET civi_member_status = coalesce($1, civi_member_status), civi_acl_status = coalesce($2, civi_acl_status),
             synced_seq = GREATEST(synced_seq, $3), attempts = 0, next_attempt_at = 0, last_error = NULL,
             sync_state = CASE WHEN dirty_seq = $3 THEN 'clean' ELSE 'dirty' END
           WHERE og_id = $4 AND uid = $5`,
          [m.civiMemberStatus ?? null, m.civiAclStatus ?? null, m.dirtySeq, ogId, m.uid],
        );
      }
    });
  }

  async memberFailed(lease: Lease, uid: number, failure: Failure): Promise<void> {
    await this.fenced(lease, (db) =>
      db.query(
        `UPDATE og_members SET attempts = attempts + 1, last_error = $1, sync_state = $2, next_attempt_at = $3
         WHERE og_id = $4 AND uid = $5 AND ($6::bigint IS NULL OR dirty_seq = $6)`,
        [failure.error, failureState(failure), failure.retryAt ?? 0, lease.ogId, uid, failure.dirtySeq ?? null],
      ),
    );
  }

  async forgetMemberStatuses(lease: Lease): Promise<void> {
    await this.fenced(
      lease,
      async (db) => {
        const seq = await nextSeq(db);
        await db.query(
          `UPDATE og_members SET civi_member_status = NULL, civi_acl_status = NULL, dirty_seq = $1, ${RESET_SYNC}
           WHERE og_id = $2`,
          [seq, lease.ogId],
        );
      },
      { seqLock: true },
    );
  }

  async saveContacts(links: ContactLink[]): Promise<void> {
    await this.transaction(async (db) => {
      // By uid, the lock order; stable, so a later link for the same uid still wins.
      for (const { uid, contactId, linked } of [...links].sort((a, b) => a.uid - b.uid)) {
        await db.query(
          `INSERT INTO users (uid, contact_id, contact_linked) VALUES ($1, $2, $3)
           ON CONFLICT (uid) DO UPDATE SET contact_id = excluded.contact_id, contact_linked = excluded.contact_linked`,
          [uid, contactId, linked ? 1 : 0],
        );
      }
    });
  }

  async releaseGroup(lease: Lease): Promise<void> {
    // The release time doubles as "last worked on", so the least recently worked group goes next.
    await this.pool.query(`UPDATE og_groups SET lease_owner = NULL, lease_until = ${STORE_NOW} WHERE og_id = $1 AND lease_token = $2`, [
      lease.ogId,
      lease.token,
    ]);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }

  /**
   * Runs work in one transaction on one pooled connection; a deadlock or serialization
   * failure rolls back and runs it again, as often as ATTEMPTS allows.
   */
  private async transaction<T>(work: (db: Queryable) => Promise<T>, begin = 'BEGIN'): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const client = await this.pool.connect();
      let broken: Error | undefined;
      try {
        await client.query(begin);
        const result = await work(client);
        await client.query('COMMIT');
        return result;
      } catch (error) {
        try {
          await client.query('ROLLBACK');
        } catch (rollbackError) {
          broken = rollbackError as Error; // the connection is unusable: the pool discards it
        }
        const code = (error as { code?: string }).code;
        if (attempt >= ATTEMPTS || code === undefined || !RETRYABLE.has(code)) throw error;
      } finally {
        client.release(broken);
      }
    }
  }
}

async function applyChanges(db: Queryable, changes: LedgerChanges, at: number, seq: number): Promise<void> {
  const targets: number[] = [];
  let ownerChange: number[] = [];

  // The group row first, then users, then members: the lock order.
  if (changes.group) {
    const g = changes.group;
    const before = await db.query<{ deleted: number; owner_uid: string | null }>(
      'SELECT deleted, owner_uid FROM og_groups WHERE og_id = $1 FOR UPDATE',
      [g.ogId],
    );
    const wasDeleted = before.rows[0]?.deleted === 1;
    const ownerBefore = before.rows[0]?.owner_uid;
    const applied = g.deleted
      ? await db.query(
          `INSERT INTO og_groups (og_id, deleted, changed_at, dirty_seq) VALUES ($1, 1, $2, $3)
           ON CONFLICT (og_id) DO UPDATE SET deleted = 1, changed_at = excluded.changed_at,
             dirty_seq = excluded.dirty_seq, ${RESET_SYNC}
           WHERE og_groups.changed_at <= excluded.changed_at
           RETURNING og_id`,
          [g.ogId, at, seq],
        )
      : await db.query(
          `INSERT INTO og_groups (og_id, title, description, owner_uid, deleted, changed_at, dirty_seq) VALUES ($1, $2, $3, $4, 0, $5, $6)
           ON CONFLICT (og_id) DO UPDATE SET title = excluded.title,
             description = coalesce(excluded.description, og_groups.description),
             owner_uid = coalesce(excluded.owner_uid, og_groups.owner_uid), deleted = 0,
             changed_at = excluded.changed_at, dirty_seq = excluded.dirty_seq, ${RESET_SYNC}
           WHERE og_groups.changed_at <= excluded.changed_at
           RETURNING og_id`,
          [g.ogId, g.title, g.description ?? null, g.ownerUid ?? null, at, seq],
        );
    if (applied.rowCount === 1) targets.push(0);
    if (applied.rowCount === 1) {
      ownerChange = changedOwner(ownerBefore === null || ownerBefore === undefined ? undefined : Number(ownerBefore), g.ownerUid);
    }
    // Membership changes made while the group was deleted were not written anywhere.
    if (applied.rowCount === 1 && wasDeleted && !g.deleted) {
      await db.query(`UPDATE og_members SET dirty_seq = $1, ${RESET_SYNC} WHERE og_id = $2`, [seq, g.ogId]);
    }
  } else {
    // A membership of a group never seen: the reconciler makes it under a placeholder title.
    // A dead group gets another chance when new work for it arrives.
    await db.query(
      `INSERT INTO og_groups (og_id, changed_at, dirty_seq) VALUES ($1, $2, $3)
       ON CONFLICT (og_id) DO UPDATE SET dirty_seq = excluded.dirty_seq, ${RESET_SYNC}
       WHERE og_groups.sync_state = 'dead'`,
      [changes.ogId, PLACEHOLDER_CHANGED_AT, seq],
    );
  }

  // By uid, the lock order; the sort is stable, so a later profile of the same uid still wins.
  for (const user of [...changes.users].sort((a, b) => a.id - b.id)) {
    await db.query(
      `INSERT INTO users (uid, email, first_name, last_name) VALUES ($1, $2, $3, $4)
       ON CONFLICT (uid) DO UPDATE SET email = coalesce(excluded.email, users.email),
         first_name = coalesce(excluded.first_name, users.first_name),
         last_name = coalesce(excluded.last_name, users.last_name)`,
      [user.id, user.email ?? null, user.firstName ?? null, user.lastName ?? null],
    );
  }

  // A member new to the ledger but older than the group's last complete list stays out.
  for (const m of changes.members) {
    const applied = await db.query(
      `INSERT INTO og_members (og_id, uid, state, is_admin, changed_at, dirty_seq)
       SELECT $1::bigint, $2::bigint, $3::text, $4::integer, $5::bigint, $6::bigint
       WHERE coalesce((SELECT members_complete_at FROM og_groups WHERE og_id = $1), $5) <= $5
       ON CONFLICT (og_id, uid) DO UPDATE SET state = excluded.state, is_admin = excluded.is_admin,
         changed_at = excluded.changed_at, dirty_seq = excluded.dirty_seq, ${RESET_SYNC}
       WHERE og_members.changed_at <= excluded.changed_at
       RETURNING uid`,
      [m.ogId, m.uid, m.state, m.isAdmin ? 1 : 0, at, seq],
    );
    if (applied.rowCount === 1) targets.push(m.uid);
  }

  // The old and the new owner's rights changed with the group, whatever their rows' dates.
  for (const uid of ownerChange) {
    const redirtied = await db.query(`UPDATE og_members SET dirty_seq = $1, ${RESET_SYNC} WHERE og_id = $2 AND uid = $3 RETURNING uid`, [
      seq,
      changes.ogId,
      uid,
    ]);
    if (redirtied.rowCount === 1) targets.push(uid);
  }

  if (changes.completeMemberList) {
    await db.query('UPDATE og_groups SET members_complete_at = GREATEST(coalesce(members_complete_at, $1), $1) WHERE og_id = $2', [
      at,
      changes.ogId,
    ]);
    const deleted = await db.query<{ uid: number }>(
      `UPDATE og_members SET state = 'deleted', is_admin = 0, changed_at = $1, dirty_seq = $2, ${RESET_SYNC}
       WHERE og_id = $3 AND changed_at <= $1 AND state <> 'deleted'
         AND uid <> ALL($4::bigint[])
       RETURNING uid`,
      [at, seq, changes.ogId, changes.members.map((m) => m.uid)],
    );
    targets.push(...deleted.rows.map((r) => r.uid));
  }

  for (const uid of targets) {
    await db.query('INSERT INTO event_targets (event_seq, og_id, uid) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [seq, changes.ogId, uid]);
  }
}

/**
 * Before a sequence number is taken for a group: one writer of the group at a time, and none
 * while every group is being marked.
 */
async function lockForSeq(db: Queryable, ogId: number): Promise<void> {
  await db.query('SELECT pg_advisory_xact_lock_shared(hashtextextended($1, 0)), pg_advisory_xact_lock(hashtextextended($2, 0))', [
    ALL_GROUPS_LOCK,
    groupLock(ogId),
  ]);
}

/** Locks group rows in og_id order: whoever writes several rows of a group takes this first. */
async function lockGroups(db: Queryable, ogIds: number[]): Promise<void> {
  if (ogIds.length === 0) return;
  await db.query('SELECT og_id FROM og_groups WHERE og_id = ANY($1::bigint[]) ORDER BY og_id FOR UPDATE', [ogIds]);
}

/**
 * A sequence number newer than every event, for re-marking items without an event, taken from
 * the events' own sequence so that no event ever gets the same one: were they equal, a sync
 * that read the mark would also count that event's change as synced. Taken under the group's
 * advisory lock (lockForSeq): every event of the group that committed before has a smaller one,
 * and every later one a larger one.
 */
async function nextSeq(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ seq: number }>("SELECT nextval(pg_get_serial_sequence('events', 'seq')) AS seq");
  return rows[0]!.seq;
}

async function usersOf(db: Queryable, uids: number[]): Promise<Map<number, UserRecord>> {
  const { rows } = uids.length === 0 ? { rows: [] as UserRow[] } : await db.query<UserRow>('SELECT * FROM users WHERE uid = ANY($1::bigint[])', [uids]);
  const found = new Map(rows.map((row) => [row.uid, row]));
  const users = new Map<number, UserRecord>();
  for (const uid of uids) {
    const row = found.get(uid);
    users.set(uid, row ? userRecord(row) : { id: uid });
  }
  return users;
}

/** The URL's password as written and decoded, to keep it out of any message. */
function passwordsOf(url: string): string[] {
  try {
    const { password } = new URL(url);
    return password === '' ? [] : [password, decodeURIComponent(password)];
  } catch {
    return [];
  }
}
