// The ledger: the event log and the desired state, with every rule written once. What differs
// between SQLite and PostgreSQL (placeholders, locks, JSON tables, the clock) sits behind the
// Adapter of sql.ts; the statements and their order are the same on both.
//
// Lock order, which every writer follows so that replicas on PostgreSQL cannot deadlock:
//   1. the writers lock of the OG group (Adapter.lockGroupWriters), by whoever takes a
//      sequence number: accept, replay, the reconcile and forget marks;
//   2. og_groups rows (FOR UPDATE), by og_id;
//   3. users rows, by uid;
//   4. og_members rows of groups already locked (a user leaving a contact takes the writers
//      lock of every group where rows are known for it, before the users row);
//   5. last, one event_counter row.
// Pruning settled events takes none of these: no unclean item points at the events it deletes.
import { admit, MAX_FUTURE_MS } from '../events/admission.js';
import type { OgEvent, OgUser } from '../events/model.js';
import { changedOwner, ledgerChangesOf, type LedgerChanges, type MemberWrite } from './changes.js';
import {
  eventCountsOf,
  eventStatusSql,
  eventSummary,
  listingQuery,
  prunableEvents,
  UNSETTLED_EVENTS,
  type EventFilter,
  type EventRow,
} from './event-status.js';
import {
  failureState,
  FRESH_ATTEMPTS,
  GROUP_COLUMNS,
  groupRecord,
  MEMBER_COLUMNS,
  memberRecord,
  PLACEHOLDER_CHANGED_AT,
  RESET_SYNC,
  USER_COLUMNS,
  userRecord,
  type GroupRow,
  type MemberRow,
  type UserRow,
} from './rows.js';
import { json, tableOf, tableParams, type Adapter, type Db, type Dialect, type Transaction } from './sql.js';
import {
  LeaseLost,
  type AcceptOutcome,
  type Claimed,
  type ContactLink,
  type EventCounts,
  type EventSummary,
  type Failure,
  type GroupCiviState,
  type GroupRecord,
  type GroupWork,
  type Lease,
  type MemberRecord,
  type MemberSynced,
  type Store,
  type SyncState,
  type UserRecord,
  type WorkCounts,
} from './store.js';

const BIGINT = 'CAST(? AS BIGINT)';

const COUNTER_SHARDS = 16;

/** Accepts committed together at most; more wait for the next commit. */
const MAX_BATCH = 64;

/**
 * `candidates`: the groups that may have work, each once: the groups with dirty members, each
 * found by one step through the (sync_state, og_id) index, and the other dirty groups. The cost
 * grows with the groups that have dirty members (resting, backing off or dead ones included),
 * not with the dirty members themselves (thousands under a burst, while their groups rest) nor
 * with the clean groups.
 */
const GROUPS_WITH_WORK = `WITH RECURSIVE member_work (og_id) AS (
    SELECT min(og_id) FROM og_members WHERE sync_state = 'dirty'
    UNION ALL
    SELECT (SELECT min(m.og_id) FROM og_members m WHERE m.sync_state = 'dirty' AND m.og_id > w.og_id)
    FROM member_work w WHERE w.og_id IS NOT NULL),
  candidates (og_id) AS (
    SELECT og_id FROM member_work WHERE og_id IS NOT NULL
    UNION ALL
    SELECT g.og_id FROM og_groups g
    WHERE g.sync_state = 'dirty' AND NOT EXISTS (SELECT 1 FROM og_members m WHERE m.og_id = g.og_id AND m.sync_state = 'dirty'))`;

/**
 * Whether candidate `g` has work due now: itself, or a member not backing off. Its two
 * parameters are the caller's now, which dates retries only; whether a lease holds is the
 * store's clock.
 */
const WORK_DUE = `g.sync_state <> 'dead' AND g.next_attempt_at <= ?
  AND (g.sync_state = 'dirty'
       OR EXISTS (SELECT 1 FROM og_members m WHERE m.og_id = g.og_id AND m.sync_state = 'dirty' AND m.next_attempt_at <= ?))`;

type AcceptResult = { outcome: AcceptOutcome } | { error: unknown };

interface QueuedAccept {
  event: OgEvent;
  changes: LedgerChanges;
  resolve(outcome: AcceptOutcome): void;
  reject(error: unknown): void;
}

export class Ledger implements Store {
  /** Accepts waiting for the commit in flight to end. */
  #queue: QueuedAccept[] = [];
  #committing = false;
  /** Every accept's first statement, written once for the dialect: for one event, and for more. */
  readonly #insertEventsSql: { one: string; many: string };

  constructor(protected readonly adapter: Adapter) {
    this.#insertEventsSql = { one: insertEventsSql(adapter.dialect, 1), many: insertEventsSql(adapter.dialect, 2) };
  }

  migrate(): Promise<number[]> {
    return this.adapter.migrate();
  }

  close(): Promise<void> {
    return this.adapter.close();
  }

  // ---- event log and admission --------------------------------------------------------------

  /**
   * Group commit: accepts that arrive while a commit is in flight join the next one, so a burst
   * costs one transaction (and one fsync) per batch, not per event. Each accept resolves only
   * once the transaction holding it has committed.
   *
   * The first commit of a burst waits for the requests already read from the sockets: SQLite
   * commits without yielding, so a commit begun at once would always hold a single event.
   */
  async accept(event: OgEvent): Promise<AcceptOutcome> {
    admit(event);
    const changes = ledgerChangesOf(event.change);
    return new Promise((resolve, reject) => {
      this.#queue.push({ event, changes, resolve, reject });
      if (this.#committing) return;
      this.#committing = true;
      setImmediate(() => void this.#commitQueued());
    });
  }

  async #commitQueued(): Promise<void> {
    try {
      while (this.#queue.length > 0) await this.#commit(this.#queue.splice(0, MAX_BATCH));
    } finally {
      this.#committing = false;
    }
  }

  /**
   * One transaction for a batch, its groups in ascending order (the lock order), each group's
   * events in the order they came; a failure the database asks to retry runs it again. An event
   * that fails fails alone: when the batch is refused, it runs again with each event on a
   * savepoint of its own, rolled back if it fails while the others commit. Refusals are rare,
   * and the savepoints cost two statements (two round trips) per event. A store out of reach is
   * not asked twice: every event of the batch is answered with the outage at once.
   */
  async #commit(batch: QueuedAccept[]): Promise<void> {
    const ordered = [...batch].sort((a, b) => a.changes.ogId - b.changes.ogId);
    let results: AcceptResult[];
    try {
      results = await this.#write(ordered, false).catch((error: unknown) => {
        if (ordered.length === 1 || this.adapter.isOutage(error)) throw error;
        return this.#write(ordered, true);
      });
    } catch (error) {
      for (const queued of batch) queued.reject(error);
      return;
    }
    ordered.forEach((queued, i) => {
      const result = results[i]!;
      if ('error' in result) queued.reject(result.error);
      else queued.resolve(result.outcome);
    });
  }

  #write(ordered: QueuedAccept[], isolate: boolean): Promise<AcceptResult[]> {
    return this.adapter.write(async (db) => {
      let out: AcceptResult[];
      if (!isolate && plainMemberships(ordered)) out = await this.#recordMemberships(db, ordered);
      else {
        out = [];
        for (const queued of ordered) out.push(await this.#acceptOne(db, queued, isolate));
      }
      this.#countAccepted(db, out.filter((r) => 'outcome' in r && r.outcome === 'accepted').length);
      return out;
    });
  }

  /**
   * A batch of membership events, each of another membership, in a few statements for the whole
   * batch rather than six per event: what #record does for each, row for row. The burst of a
   * bulk operation in Drupal is such a batch. Only the events' insert is read, for the sequence
   * numbers it took: the writes after it are sent with the commit (one round trip on PostgreSQL).
   */
  async #recordMemberships(db: Transaction, ordered: QueuedAccept[]): Promise<AcceptResult[]> {
    for (const ogId of new Set(ordered.map((q) => q.changes.ogId))) this.adapter.lockGroupWriters(db, ogId);
    const inserted = await this.#insertEvents(db, ordered.map((q) => q.event));
    const accepted = ordered.filter((q) => inserted.has(q.event.id));
    if (accepted.length > 0) {
      // A group's placeholder, or its revival, goes with its first event, as in #record.
      const firstSeq = new Map<number, number>();
      for (const q of accepted) if (!firstSeq.has(q.changes.ogId)) firstSeq.set(q.changes.ogId, inserted.get(q.event.id)!.seq);
      this.#placeGroups(db, [...firstSeq].map(([og_id, seq]) => ({ og_id, seq })));
      const users = accepted.flatMap((q) => q.changes.users);
      if (users.length > 0) this.#saveProfiles(db, users);
      this.#writeMembers(
        db,
        accepted.map((q) => {
          const { seq, occurredAt } = inserted.get(q.event.id)!;
          return memberRow(q.changes.members[0]!, occurredAt, seq);
        }),
      );
    }
    return ordered.map((q) => ({ outcome: inserted.has(q.event.id) ? 'accepted' : 'duplicate' }));
  }

  /**
   * Inserts events in their order; the sequence number and the time of each one new. An event with
   * no time of its own is dated here, by the store's clock, read once for the statement and so
   * after every event of it was received (dating.ts says why): never before its `after` (a deleted
   * node's last edit, by Drupal's clock) and never beyond what admission takes. Read with the
   * insert's answer, it costs no wait of its own.
   */
  async #insertEvents(db: Transaction, events: OgEvent[]): Promise<Map<string, { seq: number; occurredAt: number }>> {
    const sql = events.length === 1 ? this.#insertEventsSql.one : this.#insertEventsSql.many;
    const inserted = await db.all<{ id: string; seq: number; occurred_at: number }>(sql, tableParams(EVENT_ROW, events.map(eventRow)));
    return new Map(inserted.map((row) => [row.id, { seq: Number(row.seq), occurredAt: Number(row.occurred_at) }]));
  }

  async #acceptOne(db: Transaction, queued: QueuedAccept, isolate: boolean): Promise<AcceptResult> {
    if (!isolate) return { outcome: await this.#record(db, queued.event, queued.changes) };
    await db.run('SAVEPOINT accept_one');
    try {
      const outcome = await this.#record(db, queued.event, queued.changes);
      await db.run('RELEASE SAVEPOINT accept_one');
      return { outcome };
    } catch (error) {
      await db.run('ROLLBACK TO SAVEPOINT accept_one');
      await db.run('RELEASE SAVEPOINT accept_one');
      if (this.adapter.retryable(error)) throw error;
      return { error };
    }
  }

  /** Records one event and its ledger effect, in the caller's transaction. */
  async #record(db: Transaction, event: OgEvent, changes: LedgerChanges): Promise<AcceptOutcome> {
    this.adapter.lockGroupWriters(db, changes.ogId);
    const inserted = (await this.#insertEvents(db, [event])).get(event.id);
    if (!inserted) return 'duplicate';
    await this.applyChanges(db, changes, inserted.occurredAt, inserted.seq);
    return 'accepted';
  }

  /**
   * Counts a batch's accepted events, last in its transaction (the lock order), on one of 16
   * rows taken at random, so that replicas committing at once seldom queue on one row.
   */
  #countAccepted(db: Transaction, accepted: number): void {
    if (accepted === 0) return;
    db.send(
      `INSERT INTO event_counter (shard, accepted) VALUES (?, ${BIGINT})
       ON CONFLICT (shard) DO UPDATE SET accepted = event_counter.accepted + excluded.accepted`,
      [Math.floor(Math.random() * COUNTER_SHARDS), accepted],
    );
  }

  /** Writes an event's ledger effect; every item it changed becomes one of its targets. */
  private async applyChanges(db: Transaction, changes: LedgerChanges, at: number, seq: number): Promise<void> {
    const d = this.adapter.dialect;
    const { ogId } = changes;
    const targets = new Set<number>();
    let ownerChange: number[] = [];

    if (changes.group) {
      const g = changes.group;
      const [before] = await db.all<{ deleted: number; owner_uid: number | null }>(
        `SELECT deleted, owner_uid FROM og_groups WHERE og_id = ? ${d.forUpdate}`,
        [ogId],
      );
      // Older never overwrites newer: each write applies only over an older change.
      const applied = g.deleted
        ? await db.all(
            `INSERT INTO og_groups (og_id, deleted, changed_at, dirty_seq) VALUES (?, 1, ?, ?)
             ON CONFLICT (og_id) DO UPDATE SET deleted = 1, changed_at = excluded.changed_at, dirty_seq = excluded.dirty_seq, ${RESET_SYNC}
             WHERE og_groups.changed_at <= excluded.changed_at
             RETURNING og_id`,
            [ogId, at, seq],
          )
        : await db.all(
            `INSERT INTO og_groups (og_id, title, description, owner_uid, deleted, changed_at, dirty_seq) VALUES (?, ?, ?, ?, 0, ?, ?)
             ON CONFLICT (og_id) DO UPDATE SET title = excluded.title,
               description = coalesce(excluded.description, og_groups.description),
               owner_uid = CASE WHEN ? = 1 THEN excluded.owner_uid ELSE og_groups.owner_uid END, deleted = 0,
               changed_at = excluded.changed_at, dirty_seq = excluded.dirty_seq, ${RESET_SYNC}
             WHERE og_groups.changed_at <= excluded.changed_at
             RETURNING og_id`,
            [ogId, g.title, g.description ?? null, g.ownerUid ?? null, at, seq, g.ownerUid === undefined ? 0 : 1],
          );
      if (applied.length > 0) {
        targets.add(0);
        ownerChange = changedOwner(before?.owner_uid ?? undefined, g.ownerUid);
        if (typeof g.ownerUid === 'number') this.#giveOwnerARow(db, ogId, g.ownerUid, seq);
        // Membership changes made while the group was deleted were not written anywhere.
        if (before?.deleted === 1 && !g.deleted) await db.run(`UPDATE og_members SET dirty_seq = ?, ${RESET_SYNC} WHERE og_id = ?`, [seq, ogId]);
      }
    } else {
      this.#placeGroups(db, [{ og_id: ogId, seq }]);
    }

    if (changes.users.length > 0) this.#saveProfiles(db, changes.users);

    if (changes.members.length > 0) this.#writeMembers(db, changes.members.map((m) => memberRow(m, at, seq)));

    // The old and the new owner's rights changed with the group, whatever their rows' dates.
    if (ownerChange.length > 0) {
      const redirtied = await db.all<{ uid: number }>(
        `UPDATE og_members SET dirty_seq = ?, ${RESET_SYNC} WHERE og_id = ? AND ${d.inList('uid')} RETURNING uid`,
        [seq, ogId, json(ownerChange)],
      );
      for (const { uid } of redirtied) targets.add(uid);
    }

    if (changes.completeMemberList) {
      await db.run(`UPDATE og_groups SET members_complete_at = ${d.greatest('coalesce(members_complete_at, ?)', '?')} WHERE og_id = ?`, [
        at,
        at,
        ogId,
      ]);
      const deleted = await db.all<{ uid: number }>(
        `UPDATE og_members SET state = 'deleted', is_admin = 0, changed_at = ?, dirty_seq = ?, ${RESET_SYNC}
         WHERE og_id = ? AND changed_at <= ? AND state <> 'deleted' AND NOT (${d.inList('uid')})
         RETURNING uid`,
        [at, seq, ogId, at, json(changes.members.map((m) => m.uid))],
      );
      for (const { uid } of deleted) targets.add(uid);
    }

    this.#addTargets(db, [...targets].map((uid) => ({ event_seq: seq, og_id: ogId, uid })));
  }

  /**
   * The owner is an active admin by ownership, so must be among the members synced. One with no
   * membership row yet gets the one OG makes for a group's owner (og_entity_insert: active, no
   * role), dated before any real change so that the owner's own membership events outrank it, and
   * it is what they keep once the group changes hands. A row they have is never overwritten.
   */
  #giveOwnerARow(db: Transaction, ogId: number, uid: number, seq: number): void {
    db.send(
      `INSERT INTO og_members (og_id, uid, state, is_admin, changed_at, dirty_seq) VALUES (?, ?, 'active', 0, ?, ?)
       ON CONFLICT (og_id, uid) DO NOTHING`,
      [ogId, uid, PLACEHOLDER_CHANGED_AT, seq],
    );
  }

  /**
   * A membership of a group never seen: the reconciler makes the group under a placeholder title,
   * which any real group event outranks. A dead group gets another chance with new work.
   */
  #placeGroups(db: Transaction, groups: Array<{ og_id: number; seq: number }>): void {
    db.send(
      `INSERT INTO og_groups (og_id, changed_at, dirty_seq)
       SELECT r.og_id, ${BIGINT}, r.seq FROM ${tableOf(this.adapter.dialect, GROUP_ROW, groups.length)} r WHERE true ORDER BY r.og_id
       ON CONFLICT (og_id) DO UPDATE SET dirty_seq = excluded.dirty_seq, ${RESET_SYNC}
       WHERE og_groups.sync_state = 'dead'`,
      [PLACEHOLDER_CHANGED_AT, ...tableParams(GROUP_ROW, groups)],
    );
  }

  /**
   * Writes memberships, each only over an older change of it; a member new to the ledger but
   * older than its group's last complete list stays out. Each membership changed becomes a target
   * of its event: the rows that now carry both the event's own sequence number, which no other
   * event has, and its time (a group brought back marks every member with the number, written or
   * not, and a row not written is newer than the event).
   *
   * A newer event that restates a clean membership as it is (a re-save in Drupal) only dates it:
   * CiviCRM was made to match it already, so it changes no item and gives the worker nothing to
   * do. A dirty or dead membership is marked again, as by any change: a dead one gets another
   * chance. So does one whose user has no known contact (a removal that found none to take out of
   * the groups): the event may bring the email that finds it.
   *
   * Where an update rewrites the indexes of every column it sets (SQLite), a restatement is dated
   * first by a statement that sets the time alone, and the upsert passes over the rows it dated:
   * setting the sync columns to the values they held cost two more pages to the log and the disk
   * at every commit. PostgreSQL compares the values, so there the upsert dates it too; a statement
   * more cost it about a tenth of its events at 50 connections.
   */
  #writeMembers(db: Transaction, rows: MemberWriteRow[]): void {
    const d = this.adapter.dialect;
    const row = tableOf(d, MEMBER_ROW, rows.length);
    const given = tableParams(MEMBER_ROW, rows);
    const restated = `og_members.sync_state = 'clean' AND og_members.state = excluded.state AND og_members.is_admin = excluded.is_admin
      AND EXISTS (SELECT 1 FROM users u WHERE u.uid = og_members.uid AND u.contact_id IS NOT NULL)`;
    const afterCompleteList = `coalesce((SELECT members_complete_at FROM og_groups WHERE og_id = r.og_id), r.at) <= r.at`;
    if (d.rewritesUnchangedIndexes) {
      // Each row looked up by its key (not an UPDATE … FROM, whose join a planner may turn around).
      db.send(
        `INSERT INTO og_members (og_id, uid, state, is_admin, changed_at, dirty_seq)
         SELECT r.og_id, r.uid, r.state, r.is_admin, r.at, r.seq FROM ${row} r
         WHERE ${afterCompleteList} AND (SELECT true FROM og_members m WHERE m.og_id = r.og_id AND m.uid = r.uid)
         ORDER BY r.og_id, r.uid
         ON CONFLICT (og_id, uid) DO UPDATE SET changed_at = excluded.changed_at
         WHERE og_members.changed_at <= excluded.changed_at AND ${restated}`,
        given,
      );
    }
    // A restatement already dated as the event is has nothing left to write.
    db.send(
      `INSERT INTO og_members (og_id, uid, state, is_admin, changed_at, dirty_seq)
       SELECT r.og_id, r.uid, r.state, r.is_admin, r.at, r.seq FROM ${row} r
       WHERE ${afterCompleteList}
       ORDER BY r.og_id, r.uid
       ON CONFLICT (og_id, uid) DO UPDATE SET state = excluded.state, is_admin = excluded.is_admin, changed_at = excluded.changed_at,
         dirty_seq = CASE WHEN ${restated} THEN og_members.dirty_seq ELSE excluded.dirty_seq END,
         sync_state = CASE WHEN ${restated} THEN 'clean' ELSE 'dirty' END, ${FRESH_ATTEMPTS}
       WHERE og_members.changed_at <= excluded.changed_at AND NOT (og_members.changed_at = excluded.changed_at AND ${restated})`,
      given,
    );
    db.send(
      `INSERT INTO event_targets (event_seq, og_id, uid)
       SELECT r.seq, r.og_id, r.uid FROM ${row} r
       WHERE (SELECT m.dirty_seq = r.seq AND m.changed_at = r.at FROM og_members m WHERE m.og_id = r.og_id AND m.uid = r.uid)
       ON CONFLICT DO NOTHING`,
      given,
    );
  }

  /** Records which items events changed (uid 0: the group itself). */
  #addTargets(db: Transaction, targets: Array<{ event_seq: number; og_id: number; uid: number }>): void {
    if (targets.length === 0) return;
    db.send(
      `INSERT INTO event_targets (event_seq, og_id, uid)
       SELECT r.event_seq, r.og_id, r.uid FROM ${tableOf(this.adapter.dialect, TARGET_ROW, targets.length)} r
       WHERE true ON CONFLICT DO NOTHING`,
      tableParams(TARGET_ROW, targets),
    );
  }

  /**
   * Remembers users' profiles: a later one's fields win, an absent field keeps what is known. A
   * profile as known already is not written again: PostgreSQL would write a new version of the
   * row, and its log, for every event of a known user.
   */
  #saveProfiles(db: Transaction, users: OgUser[]): void {
    const profiles = profilesByUid(users);
    db.send(
      `INSERT INTO users (uid, email, first_name, last_name)
       SELECT r.uid, r.email, r.first_name, r.last_name FROM ${tableOf(this.adapter.dialect, PROFILE_ROW, profiles.length)} r
       WHERE true ORDER BY r.uid
       ON CONFLICT (uid) DO UPDATE SET email = coalesce(excluded.email, users.email),
         first_name = coalesce(excluded.first_name, users.first_name),
         last_name = coalesce(excluded.last_name, users.last_name)
       WHERE coalesce(excluded.email, users.email) IS DISTINCT FROM users.email
         OR coalesce(excluded.first_name, users.first_name) IS DISTINCT FROM users.first_name
         OR coalesce(excluded.last_name, users.last_name) IS DISTINCT FROM users.last_name`,
      tableParams(PROFILE_ROW, profiles),
    );
  }

  async checkWritable(): Promise<void> {
    // A real write: a temporary table would not notice a read-only disk or a hot standby.
    await this.adapter.db.run('INSERT INTO store_probe (id, at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET at = excluded.at', [Date.now()]);
  }

  async replay(eventId: string): Promise<boolean> {
    const d = this.adapter.dialect;
    return this.adapter.write(async (db) => {
      const [event] = await db.all<{ seq: number }>('SELECT seq FROM events WHERE id = ?', [eventId]);
      if (!event) return false;
      const targets = await db.all<{ og_id: number; uid: number }>('SELECT og_id, uid FROM event_targets WHERE event_seq = ? ORDER BY og_id, uid', [
        event.seq,
      ]);
      const ogIds = [...new Set(targets.map((t) => t.og_id))];
      for (const ogId of ogIds) this.adapter.lockGroupWriters(db, ogId);
      await lockGroups(this.adapter, db, ogIds);
      const seq = await this.adapter.nextSeq(db);
      for (const t of targets) {
        // A membership cannot be synced while its group is dead: the group gets another chance too.
        await db.run(`UPDATE og_groups SET dirty_seq = ?, ${RESET_SYNC} WHERE og_id = ? AND sync_state = 'dead'`, [seq, t.og_id]);
        // A replayed event, and the ones after it, show as pending until the item is synced again.
        if (t.uid === 0) {
          await db.run(`UPDATE og_groups SET dirty_seq = ?, synced_seq = ${d.least('synced_seq', '? - 1')}, ${RESET_SYNC} WHERE og_id = ?`, [
            seq,
            event.seq,
            t.og_id,
          ]);
        } else {
          await db.run(
            `UPDATE og_members SET dirty_seq = ?, synced_seq = ${d.least('synced_seq', '? - 1')}, ${RESET_SYNC} WHERE og_id = ? AND uid = ?`,
            [seq, event.seq, t.og_id, t.uid],
          );
        }
      }
      return true;
    });
  }

  async pruneEvents(receivedBefore: number, limit: number): Promise<number> {
    const d = this.adapter.dialect;
    return this.adapter.write(async (db) => {
      const prunable = prunableEvents(receivedBefore, limit);
      const seqs = (await db.all<{ seq: number }>(prunable.sql, prunable.params)).map((r) => r.seq);
      if (seqs.length === 0) return 0;
      await db.run(`DELETE FROM event_targets WHERE ${d.inList('event_seq')}`, [json(seqs)]);
      await db.run(`DELETE FROM events WHERE ${d.inList('seq')}`, [json(seqs)]);
      return seqs.length;
    });
  }

  // ---- operator queries -----------------------------------------------------------------------

  async eventCounts(): Promise<EventCounts> {
    const [total] = await this.adapter.db.all<{ n: number }>('SELECT coalesce(sum(accepted), 0) AS n FROM event_counter');
    const unsettled = await this.adapter.db.all<{ status: EventRow['status']; n: number }>(
      `SELECT status, count(*) AS n FROM (${eventStatusSql(UNSETTLED_EVENTS)}) statuses GROUP BY status`,
    );
    return eventCountsOf(Number(total!.n), unsettled);
  }

  async workCounts(): Promise<WorkCounts> {
    type Counts = { total: number; dirty: number; dead: number };
    const [groups] = await this.adapter.db.all<Counts>(
      `SELECT count(*) AS total, count(*) FILTER (WHERE sync_state = 'dirty') AS dirty, count(*) FILTER (WHERE sync_state = 'dead') AS dead
       FROM og_groups`,
    );
    // Members of a dead group wait for it: they count as dead, not as work in progress.
    const [members] = await this.adapter.db.all<Counts>(
      `SELECT count(*) AS total,
         count(*) FILTER (WHERE m.sync_state = 'dirty' AND g.sync_state <> 'dead') AS dirty,
         count(*) FILTER (WHERE m.sync_state = 'dead' OR (m.sync_state = 'dirty' AND g.sync_state = 'dead')) AS dead
       FROM og_members m JOIN og_groups g ON g.og_id = m.og_id`,
    );
    return { groups: counts(groups!), members: counts(members!) };
  }

  async listEvents(filter: { status?: 'pending' | 'dead' | 'done'; limit: number; before?: string }): Promise<EventSummary[]> {
    const { db } = this.adapter;
    const query: EventFilter = { status: filter.status, limit: filter.limit };
    if (filter.before !== undefined) {
      const [cursor] = await db.all<{ seq: number }>('SELECT seq FROM events WHERE id = ?', [filter.before]);
      if (!cursor) return [];
      query.beforeSeq = cursor.seq;
    }
    const { sql, params, statuses } = listingQuery(query);
    const where = statuses ? `WHERE status IN (${statuses.map(() => '?').join(', ')})` : '';
    const rows = await db.all<EventRow>(`SELECT * FROM (${sql}) statuses ${where} ORDER BY seq DESC LIMIT ?`, [
      ...params,
      ...(statuses ?? []),
      filter.limit,
    ]);
    return rows.map(eventSummary);
  }

  async listGroups(filter: { state?: SyncState; q?: string; limit: number; after?: number }): Promise<GroupRecord[]> {
    const where = ['og_id > ?'];
    const params: unknown[] = [filter.after ?? 0];
    if (filter.state !== undefined) {
      where.push('sync_state = ?');
      params.push(filter.state);
    }
    const q = filter.q?.trim();
    if (q) {
      const pattern = `%${q.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
      if (/^[1-9]\d{0,14}$/.test(q)) {
        where.push("(og_id = ? OR lower(coalesce(title, '')) LIKE ? ESCAPE '\\')");
        params.push(Number(q), pattern);
      } else {
        where.push("lower(coalesce(title, '')) LIKE ? ESCAPE '\\'");
        params.push(pattern);
      }
    }
    const rows = await this.adapter.db.all<GroupRow>(`SELECT ${GROUP_COLUMNS} FROM og_groups WHERE ${where.join(' AND ')} ORDER BY og_id LIMIT ?`, [
      ...params,
      filter.limit,
    ]);
    return rows.map(groupRecord);
  }

  async listMembers(ogId: number, filter: { state?: SyncState; limit: number; after?: number }): Promise<MemberRecord[]> {
    const state = filter.state === undefined ? '' : 'AND sync_state = ?';
    const rows = await this.adapter.db.all<MemberRow>(
      `SELECT ${MEMBER_COLUMNS} FROM og_members WHERE og_id = ? AND uid > ? ${state} ORDER BY uid LIMIT ?`,
      [ogId, filter.after ?? 0, ...(filter.state === undefined ? [] : [filter.state]), filter.limit],
    );
    return rows.map(memberRecord);
  }

  // ---- ledger reads ---------------------------------------------------------------------------

  async group(ogId: number): Promise<GroupRecord | undefined> {
    const [row] = await this.adapter.db.all<GroupRow>(`SELECT ${GROUP_COLUMNS} FROM og_groups WHERE og_id = ?`, [ogId]);
    return row && groupRecord(row);
  }

  async groupIds(): Promise<number[]> {
    return (await this.adapter.db.all<{ og_id: number }>('SELECT og_id FROM og_groups ORDER BY og_id')).map((r) => r.og_id);
  }

  async members(ogId: number): Promise<MemberRecord[]> {
    return (await this.adapter.db.all<MemberRow>(`SELECT ${MEMBER_COLUMNS} FROM og_members WHERE og_id = ? ORDER BY uid`, [ogId])).map(memberRecord);
  }

  users(uids: number[]): Promise<Map<number, UserRecord>> {
    return usersOf(this.adapter, this.adapter.db, uids);
  }

  // ---- work queue: claims, leases, marks --------------------------------------------------------

  claimGroup(owner: string, now: number, leaseMs: number): Promise<Lease | undefined> {
    return this.#claim(this.adapter.db, owner, now, leaseMs);
  }

  /**
   * A claim and the work it found, in one transaction. Idle lanes ask often and mostly find
   * nothing: a plain read tells them so without a write transaction, and also how soon a group
   * resting after its last sync will be due.
   */
  async claimWork(owner: string, now: number, leaseMs: number, memberLimit: number): Promise<Claimed> {
    const due = await this.#dueWork(now);
    if (due.free === 0) return due.restingMs === undefined ? undefined : { restingMs: due.restingMs };
    const claimed = await this.adapter.write(
      async (db) => {
        const lease = await this.#claim(db, owner, now, leaseMs);
        const work = lease && (await this.#load(db, lease.ogId, now, memberLimit));
        return lease && work && { lease, work, nextDueMs: due.free > 1 ? 0 : due.restingMs };
      },
      { durable: this.adapter.claimsNeedDisk },
    );
    if (claimed) return claimed;
    // Another lane took the group between the read and the claim: what is left may be resting,
    // or due (then soon again).
    const left = await this.#dueWork(now);
    if (left.free > 0) return { restingMs: 1 };
    return left.restingMs === undefined ? undefined : { restingMs: Math.max(left.restingMs, 1) };
  }

  /**
   * How many groups with work due are free to claim now, and how long until the first of those
   * resting after their last sync is free. Counted, not sorted: a sort of the candidates cost
   * this read, the one an idle lane makes at every wake, most of its time. The clock is read once
   * (PostgreSQL's moves during a statement), so that no group is neither free nor resting.
   */
  async #dueWork(now: number): Promise<{ free: number; restingMs?: number }> {
    const d = this.adapter.dialect;
    const [row] = await this.adapter.db.all<{ free: number; resting_ms: number | null }>(
      `${GROUPS_WITH_WORK}
       SELECT count(*) FILTER (WHERE g.lease_until <= clock.now) AS free,
         min(g.lease_until - clock.now) FILTER (WHERE g.lease_until > clock.now AND g.lease_owner IS NULL) AS resting_ms
       FROM candidates c JOIN og_groups g ON g.og_id = c.og_id CROSS JOIN (SELECT ${d.now} AS now) clock
       WHERE ${WORK_DUE}`,
      [now, now],
    );
    const free = Number(row?.free ?? 0);
    const resting = row?.resting_ms;
    // Only rests still running are counted: the time left is above zero.
    return resting === null || resting === undefined ? { free } : { free, restingMs: Number(resting) };
  }

  async #claim(db: Db, owner: string, now: number, leaseMs: number): Promise<Lease | undefined> {
    const d = this.adapter.dialect;
    const [claimed] = await db.all<{ og_id: number; lease_token: number }>(
      `UPDATE og_groups SET lease_owner = ?, lease_until = ${d.now} + ?, lease_token = lease_token + 1
       WHERE og_id = (${GROUPS_WITH_WORK}
         SELECT g.og_id FROM candidates c JOIN og_groups g ON g.og_id = c.og_id
         WHERE g.lease_until <= ${d.now} AND ${WORK_DUE}
         ORDER BY g.lease_until, g.og_id LIMIT 1 ${d.skipLocked('g')})
       RETURNING og_id, lease_token`,
      [owner, leaseMs, now, now],
    );
    return claimed && { ogId: claimed.og_id, owner, token: claimed.lease_token };
  }

  async leaseGroup(ogId: number, owner: string, leaseMs: number): Promise<Lease | undefined> {
    const d = this.adapter.dialect;
    const [taken] = await this.adapter.db.all<{ lease_token: number }>(
      `UPDATE og_groups SET lease_owner = ?, lease_until = ${d.now} + ?, lease_token = lease_token + 1
       WHERE og_id = ? AND (lease_owner IS NULL OR lease_until <= ${d.now}) RETURNING lease_token`,
      [owner, leaseMs, ogId],
    );
    return taken && { ogId, owner, token: taken.lease_token };
  }

  async renewLease(lease: Lease, leaseMs: number): Promise<boolean> {
    const changed = await this.adapter.db.run(
      `UPDATE og_groups SET lease_until = ${this.adapter.dialect.now} + ? WHERE og_id = ? AND lease_token = ? AND lease_owner = ?`,
      [leaseMs, lease.ogId, lease.token, lease.owner],
    );
    return changed === 1;
  }

  releaseGroup(lease: Lease, restMs = 0): Promise<void> {
    return this.adapter.write(async (db) => this.#release(db, lease, restMs), { durable: false });
  }

  /**
   * The release time (plus the rest) doubles as "last worked on", so the least recently worked
   * group goes next. A resting group has no owner: only the worker's claims wait for its rest.
   */
  #release(db: Transaction, lease: Lease, restMs: number): void {
    db.send(`UPDATE og_groups SET lease_owner = NULL, lease_until = ${this.adapter.dialect.now} + ${BIGINT} WHERE og_id = ? AND lease_token = ?`, [
      restMs,
      lease.ogId,
      lease.token,
    ]);
  }

  async claimResync(now: number, dueBefore: number): Promise<number | undefined> {
    const [claimed] = await this.adapter.db.all<{ og_id: number }>(
      `UPDATE og_groups SET resynced_at = ?
       WHERE og_id = (SELECT og_id FROM og_groups WHERE deleted = 0 AND coalesce(resynced_at, 0) < ?
                      ORDER BY coalesce(resynced_at, 0), og_id LIMIT 1 ${this.adapter.dialect.skipLocked('og_groups')})
       RETURNING og_id`,
      [now, dueBefore],
    );
    return claimed?.og_id;
  }

  loadWork(ogId: number, now: number, memberLimit: number): Promise<GroupWork | undefined> {
    // One snapshot for the group, its members and their users.
    return this.adapter.read((db) => this.#load(db, ogId, now, memberLimit));
  }

  async #load(db: Db, ogId: number, now: number, memberLimit: number): Promise<GroupWork | undefined> {
    // Asked together: on PostgreSQL both go to the server at once.
    const [[group], members] = await Promise.all([
      db.all<GroupRow>(`SELECT ${GROUP_COLUMNS} FROM og_groups WHERE og_id = ?`, [ogId]),
      db.all<MemberRow>(
        `SELECT ${MEMBER_COLUMNS} FROM og_members WHERE og_id = ? AND sync_state = 'dirty' AND next_attempt_at <= ? ORDER BY uid LIMIT ?`,
        [ogId, now, memberLimit],
      ),
    ]);
    if (!group) return undefined;
    return { group: groupRecord(group), members: members.map(memberRecord), users: await usersOf(this.adapter, db, members.map((m) => m.uid)) };
  }

  async clock(): Promise<number> {
    const [row] = await this.adapter.db.all<{ now: number }>(`SELECT ${this.adapter.dialect.now} AS now`);
    return Number(row!.now);
  }

  async markForReconcile(ogId: number): Promise<number> {
    return this.adapter.write(async (db) => {
      this.adapter.lockGroupWriters(db, ogId);
      const [group] = await db.all<{ og_id: number }>(`SELECT og_id FROM og_groups WHERE og_id = ? ${this.adapter.dialect.forUpdate}`, [ogId]);
      if (!group) return 0;
      await this.#markGroupAndMembers(db, ogId);
      return 1;
    });
  }

  /** Re-marking an item keeps what its events already achieved (synced_seq): only the work is new. */
  async #markGroupAndMembers(db: Transaction, ogId: number): Promise<void> {
    const seq = await this.adapter.nextSeq(db);
    db.send(`UPDATE og_groups SET dirty_seq = ?, ${RESET_SYNC} WHERE og_id = ?`, [seq, ogId]);
    db.send(`UPDATE og_members SET dirty_seq = ?, ${RESET_SYNC} WHERE og_id = ?`, [seq, ogId]);
  }

  // ---- sync results, fenced by the lease ---------------------------------------------------------

  /**
   * Runs result writes in one transaction only while the lease's token is the group's. The check
   * locks the group row until commit, so no claim comes between it and the writes. `takesSeq`
   * first waits for the group's other writers, for writes that take a sequence number. Writes
   * sent go to the server with the COMMIT.
   */
  private fenced<T>(lease: Lease, write: (db: Transaction) => T | Promise<T>, { takesSeq = false, durable = false } = {}): Promise<T> {
    // A sync's results can be redone: they need not wait for the disk (see Adapter.write).
    return this.adapter.write(async (db) => {
      if (takesSeq) this.adapter.lockGroupWriters(db, lease.ogId);
      const held = await db.all(`SELECT 1 FROM og_groups WHERE og_id = ? AND lease_token = ? ${this.adapter.dialect.forUpdate}`, [
        lease.ogId,
        lease.token,
      ]);
      if (held.length === 0) throw new LeaseLost(lease);
      return write(db);
    }, { durable });
  }

  async groupSynced(lease: Lease, dirtySeq: number, civi: GroupCiviState, now: number, { madeAnew = false } = {}): Promise<void> {
    const d = this.adapter.dialect;
    await this.fenced(
      lease,
      async (db) => {
        db.send(
          `UPDATE og_groups SET civi = ?, synced_at = ?, synced_seq = ${d.greatest('synced_seq', BIGINT)}, attempts = 0, next_attempt_at = 0,
             last_error = NULL, sync_state = CASE WHEN dirty_seq = ? THEN 'clean' ELSE 'dirty' END
           WHERE og_id = ?`,
          [JSON.stringify(civi), now, dirtySeq, dirtySeq, lease.ogId],
        );
        if (!madeAnew) return;
        // Rows known for a deleted or replaced group say nothing of the new one. Forgotten in the
        // same commit as the new ids: ids kept without it would leave the new group empty for good.
        const seq = await this.adapter.nextSeq(db);
        db.send(`UPDATE og_members SET civi_member_status = NULL, civi_acl_status = NULL, dirty_seq = ?, ${RESET_SYNC} WHERE og_id = ?`, [
          seq,
          lease.ogId,
        ]);
      },
      // Forgetting must last: members written again into the group made anew depend on it.
      madeAnew ? { takesSeq: true, durable: true } : {},
    );
  }

  async groupFailed(lease: Lease, failure: Failure): Promise<void> {
    await this.fenced(lease, (db) =>
      db.send(
        `UPDATE og_groups SET attempts = attempts + 1, last_error = ?, sync_state = ?, next_attempt_at = ?
         WHERE og_id = ? AND (${BIGINT} IS NULL OR dirty_seq = ?)`,
        [failure.error, failureState(failure), failure.retryAt ?? 0, lease.ogId, failure.dirtySeq ?? null, failure.dirtySeq ?? null],
      ),
    );
  }

  async membersSynced(lease: Lease, synced: MemberSynced[]): Promise<void> {
    if (synced.length > 0) await this.fenced(lease, (db) => this.#membersSynced(db, lease, synced));
  }

  async memberFailed(lease: Lease, uid: number, failure: Failure): Promise<void> {
    await this.fenced(lease, (db) => this.#memberFailed(db, lease, uid, failure));
  }

  /** A batch's results and the release of its lease, in one transaction: one commit per batch. */
  async finishMembers(lease: Lease, synced: MemberSynced[], failed: Array<{ uid: number; failure: Failure }>, restMs = 0): Promise<void> {
    if (synced.length === 0 && failed.length === 0) return this.releaseGroup(lease, restMs);
    await this.fenced(lease, (db) => {
      this.#membersSynced(db, lease, synced);
      for (const { uid, failure } of failed) this.#memberFailed(db, lease, uid, failure);
      this.#release(db, lease, restMs);
    });
  }

  /** One statement for the whole batch. A member is clean only when no change came since the one the sync worked on. */
  #membersSynced(db: Transaction, lease: Lease, synced: MemberSynced[]): void {
    if (synced.length === 0) return;
    const d = this.adapter.dialect;
    const rows = synced.map((m) => ({ uid: m.uid, dirty_seq: m.dirtySeq, member: m.civiMemberStatus ?? null, acl: m.civiAclStatus ?? null }));
    db.send(
      `UPDATE og_members SET civi_member_status = coalesce(r.member, og_members.civi_member_status),
         civi_acl_status = coalesce(r.acl, og_members.civi_acl_status),
         synced_seq = ${d.greatest('og_members.synced_seq', 'r.dirty_seq')}, attempts = 0, next_attempt_at = 0, last_error = NULL,
         sync_state = CASE WHEN og_members.dirty_seq = r.dirty_seq THEN 'clean' ELSE 'dirty' END
       FROM ${tableOf(d, SYNCED_ROW, rows.length)} r
       WHERE og_members.og_id = ? AND og_members.uid = r.uid`,
      [...tableParams(SYNCED_ROW, rows), lease.ogId],
    );
  }

  #memberFailed(db: Transaction, lease: Lease, uid: number, failure: Failure): void {
    db.send(
      `UPDATE og_members SET attempts = attempts + 1, last_error = ?, sync_state = ?, next_attempt_at = ?
       WHERE og_id = ? AND uid = ? AND (${BIGINT} IS NULL OR dirty_seq = ?)`,
      [failure.error, failureState(failure), failure.retryAt ?? 0, lease.ogId, uid, failure.dirtySeq ?? null, failure.dirtySeq ?? null],
    );
  }

  async setKnownStatuses(
    lease: Lease,
    statuses: Array<{ uid: number; member?: string; acl?: string }>,
    { markForSync = false } = {},
  ): Promise<void> {
    if (statuses.length === 0 && !markForSync) return;
    const d = this.adapter.dialect;
    const rows = statuses.map((s) => ({ uid: s.uid, member: s.member ?? null, acl: s.acl ?? null }));
    await this.fenced(
      lease,
      async (db) => {
        db.send(
          `UPDATE og_members SET civi_member_status = r.member, civi_acl_status = r.acl
           FROM ${tableOf(d, STATUS_ROW, rows.length)} r
           WHERE og_members.og_id = ? AND og_members.uid = r.uid`,
          [...tableParams(STATUS_ROW, rows), lease.ogId],
        );
        // With the rows found, in the same commit: rows known to differ from the ledger, with
        // nothing marked to write them, would wait for the next resync.
        if (markForSync) await this.#markGroupAndMembers(db, lease.ogId);
      },
      markForSync ? { takesSeq: true, durable: true } : {},
    );
  }

  async saveContacts(links: ContactLink[]): Promise<void> {
    if (links.length === 0) return;
    const d = this.adapter.dialect;
    // One row per uid, the last link winning, in uid order (the lock order).
    const byUid = new Map(links.map((l) => [l.uid, { uid: l.uid, contact_id: l.contactId, contact_linked: l.linked ? 1 : 0 }]));
    const rows = [...byUid.values()].sort((a, b) => a.uid - b.uid);
    // Redone by looking the users up again if lost: need not wait for the disk.
    await this.adapter.write(
      async (db) => {
        const leaving = await this.#usersLeavingContacts(db, byUid);
        const groups = leaving.length > 0 ? await this.#groupsWithRowsKnown(db, leaving) : [];
        for (const ogId of groups) this.adapter.lockGroupWriters(db, ogId);
        db.send(
          `INSERT INTO users (uid, contact_id, contact_linked)
           SELECT r.uid, r.contact_id, r.contact_linked FROM ${tableOf(d, CONTACT_ROW, rows.length)} r
           WHERE true ORDER BY r.uid
           ON CONFLICT (uid) DO UPDATE SET contact_id = excluded.contact_id, contact_linked = excluded.contact_linked`,
          tableParams(CONTACT_ROW, rows),
        );
        if (groups.length > 0) await this.#forgetRows(db, leaving, groups);
      },
      { durable: false },
    );
  }

  /**
   * The users leaving the contact cached for them: it is forgotten (in the trash, its link gone)
   * or another takes its place. Found by key: most links are a first contact for a new user.
   */
  async #usersLeavingContacts(db: Transaction, links: Map<number, { contact_id: number | null }>): Promise<number[]> {
    const cached = await db.all<{ uid: number; contact_id: number }>(
      `SELECT uid, contact_id FROM users WHERE ${this.adapter.dialect.inList('uid')} AND contact_id IS NOT NULL`,
      [json([...links.keys()])],
    );
    return cached.filter((c) => links.get(Number(c.uid))!.contact_id !== Number(c.contact_id)).map((c) => Number(c.uid));
  }

  /**
   * The groups, in og_id order, where these users have GroupContact rows known. Memberships are
   * not indexed by user (an index more for every membership written): this reads them all, which
   * only a contact left behind asks for.
   */
  async #groupsWithRowsKnown(db: Transaction, uids: number[]): Promise<number[]> {
    const found = await db.all<{ og_id: number }>(
      `SELECT DISTINCT og_id FROM og_members
       WHERE ${this.adapter.dialect.inList('uid')} AND (civi_member_status IS NOT NULL OR civi_acl_status IS NOT NULL)
       ORDER BY og_id`,
      [json(uids)],
    );
    return found.map((row) => Number(row.og_id));
  }

  /**
   * The rows known for a user's memberships are those of the contact they leave: they say nothing
   * of the next one, in any group (a merge moves the rows to the contact kept, and writing them
   * again there changes nothing). A clean membership is marked to be written again; one being
   * synced, retrying or dead keeps its course, and its backoff: a contact left again and again
   * must not bring retries at once for ever.
   */
  async #forgetRows(db: Transaction, uids: number[], groups: number[]): Promise<void> {
    const d = this.adapter.dialect;
    const seq = await this.adapter.nextSeq(db);
    db.send(
      `UPDATE og_members SET civi_member_status = NULL, civi_acl_status = NULL,
         dirty_seq = CASE WHEN sync_state = 'clean' THEN ? ELSE dirty_seq END,
         sync_state = CASE WHEN sync_state = 'clean' THEN 'dirty' ELSE sync_state END
       WHERE ${d.inList('uid')} AND ${d.inList('og_id')}`,
      [seq, json(uids), json(groups)],
    );
  }
}

/** Locks group rows in og_id order: whoever writes several rows of a group takes this first. */
async function lockGroups(adapter: Adapter, db: Db, ogIds: number[]): Promise<void> {
  if (ogIds.length === 0 || adapter.dialect.forUpdate === '') return;
  await db.all(`SELECT og_id FROM og_groups WHERE ${adapter.dialect.inList('og_id')} ORDER BY og_id ${adapter.dialect.forUpdate}`, [json(ogIds)]);
}

async function usersOf(adapter: Adapter, db: Db, uids: number[]): Promise<Map<number, UserRecord>> {
  const rows = uids.length === 0 ? [] : await db.all<UserRow>(`SELECT ${USER_COLUMNS} FROM users WHERE ${adapter.dialect.inList('uid')}`, [json(uids)]);
  const found = new Map(rows.map((row) => [row.uid, row]));
  return new Map(uids.map((uid) => [uid, found.has(uid) ? userRecord(found.get(uid)!) : { id: uid }]));
}

/** The insert of #insertEvents for `count` events: its statement's rows are EVENT_ROW's, their order `n`. */
function insertEventsSql(d: Dialect, count: number): string {
  const dated = `CASE WHEN r.at_receipt = 0 THEN r.occurred_at WHEN r.after IS NULL THEN clock.now
    ELSE ${d.greatest('clock.now', d.least('r.after + 1', `clock.now + ${MAX_FUTURE_MS}`))} END`;
  return `INSERT INTO events (id, source, type, occurred_at, received_at, change)
    SELECT r.id, r.source, r.type, ${dated}, CASE WHEN r.at_receipt = 0 THEN r.received_at ELSE clock.now END, r.change
    FROM ${tableOf(d, EVENT_ROW, count)} r CROSS JOIN (SELECT ${d.now} AS now) clock
    WHERE true ORDER BY r.n
    ON CONFLICT (id) DO NOTHING RETURNING id, seq, occurred_at`;
}

const EVENT_ROW = {
  n: 'int',
  id: 'text',
  source: 'text',
  type: 'text',
  occurred_at: 'int',
  received_at: 'int',
  change: 'text',
  at_receipt: 'int',
  after: 'int',
} as const;

/** The rows the ledger's statements take, by their columns. */
const GROUP_ROW = { og_id: 'int', seq: 'int' } as const;
const MEMBER_ROW = { og_id: 'int', uid: 'int', state: 'text', is_admin: 'int', at: 'int', seq: 'int' } as const;
const TARGET_ROW = { event_seq: 'int', og_id: 'int', uid: 'int' } as const;
const PROFILE_ROW = { uid: 'int', email: 'text', first_name: 'text', last_name: 'text' } as const;
const SYNCED_ROW = { uid: 'int', dirty_seq: 'int', member: 'text', acl: 'text' } as const;
const STATUS_ROW = { uid: 'int', member: 'text', acl: 'text' } as const;
const CONTACT_ROW = { uid: 'int', contact_id: 'int', contact_linked: 'int' } as const;

/** An event as #insertEvents takes it; `n` keeps the order it came in. */
const eventRow = (event: OgEvent, n: number) => ({
  n,
  id: event.id,
  source: event.source,
  type: event.change.type,
  occurred_at: event.occurredAt,
  received_at: event.receivedAt,
  change: JSON.stringify(event.change),
  at_receipt: event.atReceipt ? 1 : 0,
  after: event.atReceipt?.after ?? null,
});

interface MemberWriteRow {
  og_id: number;
  uid: number;
  state: string;
  is_admin: number;
  at: number;
  seq: number;
}

const memberRow = (m: MemberWrite, at: number, seq: number): MemberWriteRow => ({
  og_id: m.ogId,
  uid: m.uid,
  state: m.state,
  is_admin: m.isAdmin ? 1 : 0,
  at,
  seq,
});

/**
 * Whether a batch is only membership events, each of another membership and with another id, so
 * that its rows can be written together without one event's write deciding another's.
 */
function plainMemberships(batch: QueuedAccept[]): boolean {
  const memberships = new Set<string>();
  const ids = new Set<string>();
  for (const { event, changes } of batch) {
    if (changes.group || changes.completeMemberList || changes.members.length !== 1) return false;
    const key = `${changes.ogId}:${changes.members[0]!.uid}`;
    if (memberships.has(key) || ids.has(event.id)) return false;
    memberships.add(key);
    ids.add(event.id);
  }
  return true;
}

/** One profile per uid: a later one's fields win, an absent field keeps the earlier one's. */
function profilesByUid(users: OgUser[]) {
  const byUid = new Map<number, { uid: number; email: string | null; first_name: string | null; last_name: string | null }>();
  for (const u of users) {
    const known = byUid.get(u.id);
    byUid.set(u.id, {
      uid: u.id,
      email: u.email ?? known?.email ?? null,
      first_name: u.firstName ?? known?.first_name ?? null,
      last_name: u.lastName ?? known?.last_name ?? null,
    });
  }
  return [...byUid.values()].sort((a, b) => a.uid - b.uid);
}

function counts(row: { total: number; dirty: number; dead: number }) {
  return { total: Number(row.total), dirty: Number(row.dirty), dead: Number(row.dead) };
}
