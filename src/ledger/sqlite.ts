// The embedded store: one SQLite file in WAL mode through better-sqlite3.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { admit } from '../events/admission.js';
import type { OgEvent } from '../events/model.js';
import { changedOwner, ledgerChangesOf, type LedgerChanges } from './changes.js';
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
import {
  eventCountsOf,
  eventStatusSql,
  eventSummary,
  listingQuery,
  prunableEvents,
  UNSETTLED_EVENTS,
  type EventRow,
} from './event-status.js';

export class SqliteStore implements Store {
  private readonly db: Database.Database;
  private statements?: Statements;

  constructor(path: string) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    // FULL makes each acknowledged event survive a power cut, not only a process crash.
    this.db.pragma('synchronous = FULL');
    this.db.pragma('busy_timeout = 5000');
    this.db.pragma('foreign_keys = ON');
  }

  async migrate(): Promise<number[]> {
    this.db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)');
    const done = new Set(this.db.prepare('SELECT version FROM schema_migrations').pluck().all() as number[]);
    const applied: number[] = [];
    for (const migration of migrations) {
      if (done.has(migration.version)) continue;
      this.db.transaction(() => {
        this.db.exec(migration.sql.sqlite);
        this.db
          .prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)')
          .run(migration.version, migration.name, new Date().toISOString());
      })();
      applied.push(migration.version);
    }
    return applied;
  }

  // Prepared on first use: statements need the schema that migrate() creates.
  private get sql(): Statements {
    return (this.statements ??= prepare(this.db));
  }

  async accept(event: OgEvent): Promise<AcceptOutcome> {
    admit(event);
    return this.db.transaction((): AcceptOutcome => {
      const seq = this.sql.insertEvent.get(
        event.id,
        event.source,
        event.change.type,
        event.occurredAt,
        event.receivedAt,
        JSON.stringify(event.change),
      ) as number | undefined;
      if (seq === undefined) return 'duplicate';
      this.sql.countAccepted.run(seq);
      this.applyChanges(ledgerChangesOf(event.change), event.occurredAt, seq);
      return 'accepted';
    }).immediate();
  }

  private applyChanges(changes: LedgerChanges, at: number, seq: number): void {
    const s = this.sql;
    for (const user of changes.users) s.upsertUser.run(user.id, user.email ?? null, user.firstName ?? null, user.lastName ?? null);
    const target = (uid: number) => s.insertTarget.run(seq, changes.ogId, uid);

    let ownerChange: number[] = [];
    if (changes.group) {
      const g = changes.group;
      const before = s.groupBefore.get(g.ogId) as { deleted: number; owner_uid: number | null } | undefined;
      const wasDeleted = before?.deleted === 1;
      const applied = g.deleted
        ? s.deleteGroup.get(g.ogId, at, seq)
        : s.upsertGroup.get(g.ogId, g.title, g.description ?? null, g.ownerUid ?? null, at, seq);
      if (applied !== undefined) target(0);
      ownerChange = applied === undefined ? [] : changedOwner(before?.owner_uid ?? undefined, g.ownerUid);
      // Membership changes made while the group was deleted were not written anywhere.
      if (applied !== undefined && wasDeleted && !g.deleted) s.redirtyGroupMembers.run(seq, g.ogId);
    } else {
      // A membership of a group never seen: the reconciler makes it under a placeholder title.
      s.ensureGroup.run(changes.ogId, PLACEHOLDER_CHANGED_AT, seq);
    }

    for (const m of changes.members) {
      const applied = s.upsertMember.get({ ogId: m.ogId, uid: m.uid, state: m.state, isAdmin: m.isAdmin ? 1 : 0, at, seq });
      if (applied !== undefined) target(m.uid);
    }

    // The old and the new owner's rights changed with the group, whatever their rows' dates.
    for (const uid of ownerChange) if (s.redirtyMember.get(seq, changes.ogId, uid) !== undefined) target(uid);

    if (changes.completeMemberList) {
      s.markMembersComplete.run({ at, ogId: changes.ogId });
      const listed = JSON.stringify(changes.members.map((m) => m.uid));
      for (const uid of s.deleteUnlisted.pluck().all(at, seq, changes.ogId, at, listed) as number[]) target(uid);
    }
  }

  async checkWritable(): Promise<void> {
    // A real write to the database file: a temporary table would not notice a read-only disk.
    this.db
      .prepare('INSERT INTO store_probe (id, at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET at = excluded.at')
      .run(Date.now());
  }

  async eventCounts(): Promise<EventCounts> {
    const total = this.db.prepare(ACCEPTED_TOTAL).pluck().get() as number;
    const unsettled = this.db
      .prepare(`SELECT status, count(*) AS n FROM (${eventStatusSql(UNSETTLED_EVENTS)}) GROUP BY status`)
      .all() as Array<{ status: EventRow['status']; n: number }>;
    return eventCountsOf(total, unsettled);
  }

  async workCounts(): Promise<WorkCounts> {
    type Counts = { total: number; dirty: number; dead: number };
    const groups = this.db
      .prepare(
        `SELECT count(*) AS total, coalesce(sum(sync_state = 'dirty'), 0) AS dirty, coalesce(sum(sync_state = 'dead'), 0) AS dead
         FROM og_groups`,
      )
      .get() as Counts;
    // Members of a dead group wait for it: they count as dead, not as work in progress.
    const members = this.db
      .prepare(
        `SELECT count(*) AS total,
           coalesce(sum(m.sync_state = 'dirty' AND g.sync_state <> 'dead'), 0) AS dirty,
           coalesce(sum(m.sync_state = 'dead' OR (m.sync_state = 'dirty' AND g.sync_state = 'dead')), 0) AS dead
         FROM og_members m JOIN og_groups g ON g.og_id = m.og_id`,
      )
      .get() as Counts;
    return { groups, members };
  }

  async listEvents(filter: { status?: 'pending' | 'dead' | 'done'; limit: number; before?: string }): Promise<EventSummary[]> {
    let beforeSeq: number | undefined;
    if (filter.before !== undefined) {
      beforeSeq = this.db.prepare('SELECT seq FROM events WHERE id = ?').pluck().get(filter.before) as number | undefined;
      if (beforeSeq === undefined) return [];
    }
    const { sql, statuses } = listingQuery({ ...filter, beforeSeq });
    const where = statuses ? `WHERE status IN (${statuses.map(() => '?').join(', ')})` : '';
    const rows = this.db
      .prepare(`SELECT * FROM (${sql}) ${where} ORDER BY seq DESC LIMIT ?`)
      .all(...(statuses ?? []), filter.limit) as EventRow[];
    return rows.map(eventSummary);
  }

  async pruneEvents(receivedBefore: number, limit: number): Promise<number> {
    return this.db
      .transaction((): number => {
        const seqs = this.db.prepare(prunableEvents(receivedBefore, limit)).pluck().all() as number[];
        const list = JSON.stringify(seqs);
        this.db.prepare('DELETE FROM event_targets WHERE event_seq IN (SELECT value FROM json_each(?))').run(list);
        this.db.prepare('DELETE FROM events WHERE seq IN (SELECT value FROM json_each(?))').run(list);
        return seqs.length;
      })
      .immediate();
  }

  async replay(eventId: string): Promise<boolean> {
    return this.db.transaction((): boolean => {
      const event = this.db.prepare('SELECT seq FROM events WHERE id = ?').get(eventId) as { seq: number } | undefined;
      if (!event) return false;
      const targets = this.db
        .prepare('SELECT og_id, uid FROM event_targets WHERE event_seq = ?')
        .all(event.seq) as Array<{ og_id: number; uid: number }>;
      const seq = this.nextSeq();
      for (const t of targets) {
        // A membership cannot be synced while its group is dead: the group gets another chance too.
        this.sql.reviveGroup.run(seq, t.og_id);
        if (t.uid === 0) this.sql.replayGroup.run(seq, event.seq, t.og_id);
        else this.sql.replayMember.run(seq, event.seq, t.og_id, t.uid);
      }
      return true;
    }).immediate();
  }

  async markForReconcile(ogId: number | undefined): Promise<number> {
    return this.db.transaction((): number => {
      const seq = this.nextSeq();
      const groups =
        ogId === undefined
          ? (this.db.prepare('SELECT og_id FROM og_groups').pluck().all() as number[])
          : (this.db.prepare('SELECT og_id FROM og_groups WHERE og_id = ?').pluck().all(ogId) as number[]);
      for (const id of groups) {
        this.sql.redirtyGroup.run(seq, id);
        this.sql.redirtyGroupMembers.run(seq, id);
      }
      return groups.length;
    }).immediate();
  }

  /**
   * A sequence number newer than every event, for re-marking items without an event. It is
   * reserved in AUTOINCREMENT's counter, so the next event gets a higher one: were they equal,
   * a sync that read the mark would also count that event's change as synced.
   */
  private nextSeq(): number {
    const reserved = this.db
      .prepare("UPDATE sqlite_sequence SET seq = seq + 1 WHERE name = 'events' RETURNING seq")
      .pluck()
      .get() as number | undefined;
    if (reserved !== undefined) return reserved;
    this.db.prepare("INSERT INTO sqlite_sequence (name, seq) VALUES ('events', 1)").run();
    return 1;
  }

  async group(ogId: number): Promise<GroupRecord | undefined> {
    const row = this.db.prepare('SELECT * FROM og_groups WHERE og_id = ?').get(ogId) as GroupRow | undefined;
    return row && groupRecord(row);
  }

  async groupIds(): Promise<number[]> {
    return this.db.prepare('SELECT og_id FROM og_groups ORDER BY og_id').pluck().all() as number[];
  }

  async members(ogId: number): Promise<MemberRecord[]> {
    const rows = this.db.prepare('SELECT * FROM og_members WHERE og_id = ? ORDER BY uid').all(ogId) as MemberRow[];
    return rows.map(memberRecord);
  }

  async user(uid: number): Promise<UserRecord | undefined> {
    const row = this.db.prepare('SELECT * FROM users WHERE uid = ?').get(uid) as UserRow | undefined;
    return row && userRecord(row);
  }

  async users(uids: number[]): Promise<Map<number, UserRecord>> {
    return this.usersSync(uids);
  }

  private usersSync(uids: number[]): Map<number, UserRecord> {
    const byUid = this.db.prepare('SELECT * FROM users WHERE uid = ?');
    const users = new Map<number, UserRecord>();
    for (const uid of uids) {
      const row = byUid.get(uid) as UserRow | undefined;
      users.set(uid, row ? userRecord(row) : { id: uid });
    }
    return users;
  }

  async leaseGroup(ogId: number, owner: string, leaseMs: number): Promise<Lease | undefined> {
    const token = this.db
      .prepare(
        `UPDATE og_groups SET lease_owner = ?, lease_until = ${STORE_NOW} + ?, lease_token = lease_token + 1
         WHERE og_id = ? AND lease_until <= ${STORE_NOW} RETURNING lease_token`,
      )
      .pluck()
      .get(owner, leaseMs, ogId) as number | undefined;
    return token === undefined ? undefined : { ogId, owner, token };
  }

  async renewLease(lease: Lease, leaseMs: number): Promise<boolean> {
    const renewed = this.db
      .prepare(`UPDATE og_groups SET lease_until = ${STORE_NOW} + ? WHERE og_id = ? AND lease_token = ? AND lease_owner = ?`)
      .run(leaseMs, lease.ogId, lease.token, lease.owner);
    return renewed.changes === 1;
  }

  /**
   * Runs a result write only while the lease's token is the group's: in one IMMEDIATE
   * transaction, so no claim by another process comes between the check and the write.
   */
  private fenced<T>(lease: Lease, write: () => T): T {
    return this.db
      .transaction((): T => {
        const held = this.db.prepare('SELECT 1 FROM og_groups WHERE og_id = ? AND lease_token = ?').get(lease.ogId, lease.token);
        if (held === undefined) throw new LeaseLost(lease);
        return write();
      })
      .immediate();
  }

  async setKnownStatuses(lease: Lease, statuses: Array<{ uid: number; member?: string; acl?: string }>): Promise<void> {
    const update = this.db.prepare('UPDATE og_members SET civi_member_status = ?, civi_acl_status = ? WHERE og_id = ? AND uid = ?');
    this.fenced(lease, () => {
      for (const s of statuses) update.run(s.member ?? null, s.acl ?? null, lease.ogId, s.uid);
    });
  }

  async claimResync(now: number, dueBefore: number): Promise<number | undefined> {
    return this.db
      .prepare(
        `UPDATE og_groups SET resynced_at = @now
         WHERE og_id = (SELECT og_id FROM og_groups WHERE deleted = 0 AND coalesce(resynced_at, 0) < @dueBefore
                        ORDER BY coalesce(resynced_at, 0), og_id LIMIT 1)
         RETURNING og_id`,
      )
      .pluck()
      .get({ now, dueBefore }) as number | undefined;
  }

  async claimGroup(owner: string, now: number, leaseMs: number): Promise<Lease | undefined> {
    const claimed = this.sql.claimGroup.get({ owner, leaseMs, now }) as { og_id: number; lease_token: number } | undefined;
    return claimed && { ogId: claimed.og_id, owner, token: claimed.lease_token };
  }

  async loadWork(ogId: number, now: number, memberLimit: number): Promise<GroupWork | undefined> {
    return this.db.transaction((): GroupWork | undefined => {
      const group = this.db.prepare('SELECT * FROM og_groups WHERE og_id = ?').get(ogId) as GroupRow | undefined;
      if (!group) return undefined;
      const members = this.db
        .prepare(
          `SELECT * FROM og_members WHERE og_id = ? AND sync_state = 'dirty' AND next_attempt_at <= ?
           ORDER BY uid LIMIT ?`,
        )
        .all(ogId, now, memberLimit) as MemberRow[];
      return { group: groupRecord(group), members: members.map(memberRecord), users: this.usersSync(members.map((m) => m.uid)) };
    })();
  }

  async groupSynced(lease: Lease, dirtySeq: number, civi: unknown, now: number): Promise<void> {
    const update = this.db.prepare(
      `UPDATE og_groups SET civi = ?, synced_at = ?, synced_seq = max(synced_seq, ?), attempts = 0, next_attempt_at = 0, last_error = NULL,
         sync_state = CASE WHEN dirty_seq = ? THEN 'clean' ELSE 'dirty' END
       WHERE og_id = ?`,
    );
    this.fenced(lease, () => update.run(JSON.stringify(civi), now, dirtySeq, dirtySeq, lease.ogId));
  }

  async groupFailed(lease: Lease, failure: Failure): Promise<void> {
    const update = this.db.prepare(
      `UPDATE og_groups SET attempts = attempts + 1, last_error = ?, sync_state = ?, next_attempt_at = ?
       WHERE og_id = ? AND (? IS NULL OR dirty_seq = ?)`,
    );
    const seq = failure.dirtySeq ?? null;
    this.fenced(lease, () => update.run(failure.error, failureState(failure), failure.retryAt ?? 0, lease.ogId, seq, seq));
  }

  async membersSynced(lease: Lease, synced: MemberSynced[]): Promise<void> {
    const update = this.db.prepare(
      `UPDATE og_members SET civi_member_status = coalesce(?, civi_member_status), civi_acl_status = coalesce(?, civi_acl_status),
         synced_seq = max(synced_seq, ?), attempts = 0, next_attempt_at = 0, last_error = NULL,
         sync_state = CASE WHEN dirty_seq = ? THEN 'clean' ELSE 'dirty' END
       WHERE og_id = ? AND uid = ?`,
    );
    this.fenced(lease, () => {
      for (const m of synced) {
        update.run(m.civiMemberStatus ?? null, m.civiAclStatus ?? null, m.dirtySeq, m.dirtySeq, lease.ogId, m.uid);
      }
    });
  }

  async memberFailed(lease: Lease, uid: number, failure: Failure): Promise<void> {
    const update = this.db.prepare(
      `UPDATE og_members SET attempts = attempts + 1, last_error = ?, sync_state = ?, next_attempt_at = ?
       WHERE og_id = ? AND uid = ? AND (? IS NULL OR dirty_seq = ?)`,
    );
    const seq = failure.dirtySeq ?? null;
    this.fenced(lease, () => update.run(failure.error, failureState(failure), failure.retryAt ?? 0, lease.ogId, uid, seq, seq));
  }

  async forgetMemberStatuses(lease: Lease): Promise<void> {
    this.fenced(lease, () => {
      this.db.prepare('UPDATE og_members SET civi_member_status = NULL, civi_acl_status = NULL WHERE og_id = ?').run(lease.ogId);
      this.sql.redirtyGroupMembers.run(this.nextSeq(), lease.ogId);
    });
  }

  async saveContacts(links: ContactLink[]): Promise<void> {
    const save = this.db.prepare(
      `INSERT INTO users (uid, contact_id, contact_linked) VALUES (?, ?, ?)
       ON CONFLICT (uid) DO UPDATE SET contact_id = excluded.contact_id, contact_linked = excluded.contact_linked`,
    );
    this.db.transaction(() => {
      for (const { uid, contactId, linked } of links) save.run(uid, contactId, linked ? 1 : 0);
    })();
  }

  async releaseGroup(lease: Lease): Promise<void> {
    // The release time doubles as "last worked on", so the least recently worked group goes next.
    this.db
      .prepare(`UPDATE og_groups SET lease_owner = NULL, lease_until = ${STORE_NOW} WHERE og_id = ? AND lease_token = ?`)
      .run(lease.ogId, lease.token);
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}

/**
 * The store's clock, in epoch milliseconds, for lease times. Every process sharing a SQLite file
 * runs on the one host whose clock this reads.
 */
const STORE_NOW = "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)";

function prepare(db: Database.Database) {
  return {
    insertEvent: db
      .prepare(
        `INSERT INTO events (id, source, type, occurred_at, received_at, change) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO NOTHING RETURNING seq`,
      )
      .pluck(),
    countAccepted: db.prepare(countAccepted('?')),
    insertTarget: db.prepare('INSERT INTO event_targets (event_seq, og_id, uid) VALUES (?, ?, ?) ON CONFLICT DO NOTHING'),
    upsertUser: db.prepare(
      `INSERT INTO users (uid, email, first_name, last_name) VALUES (?, ?, ?, ?)
       ON CONFLICT (uid) DO UPDATE SET email = coalesce(excluded.email, users.email),
         first_name = coalesce(excluded.first_name, users.first_name),
         last_name = coalesce(excluded.last_name, users.last_name)`,
    ),
    upsertGroup: db.prepare(
      `INSERT INTO og_groups (og_id, title, description, owner_uid, deleted, changed_at, dirty_seq) VALUES (?, ?, ?, ?, 0, ?, ?)
       ON CONFLICT (og_id) DO UPDATE SET title = excluded.title,
         description = coalesce(excluded.description, og_groups.description),
         owner_uid = coalesce(excluded.owner_uid, og_groups.owner_uid), deleted = 0,
         changed_at = excluded.changed_at, dirty_seq = excluded.dirty_seq, ${RESET_SYNC}
       WHERE og_groups.changed_at <= excluded.changed_at
       RETURNING og_id`,
    ),
    deleteGroup: db.prepare(
      `INSERT INTO og_groups (og_id, deleted, changed_at, dirty_seq) VALUES (?, 1, ?, ?)
       ON CONFLICT (og_id) DO UPDATE SET deleted = 1, changed_at = excluded.changed_at,
         dirty_seq = excluded.dirty_seq, ${RESET_SYNC}
       WHERE og_groups.changed_at <= excluded.changed_at
       RETURNING og_id`,
    ),
    // A dead group gets another chance when new work for it arrives.
    ensureGroup: db.prepare(
      `INSERT INTO og_groups (og_id, changed_at, dirty_seq) VALUES (?, ?, ?)
       ON CONFLICT (og_id) DO UPDATE SET dirty_seq = excluded.dirty_seq, ${RESET_SYNC}
       WHERE og_groups.sync_state = 'dead'`,
    ),
    // A member new to the ledger but older than the group's last complete list stays out.
    upsertMember: db.prepare(
      `INSERT INTO og_members (og_id, uid, state, is_admin, changed_at, dirty_seq)
       SELECT @ogId, @uid, @state, @isAdmin, @at, @seq
       WHERE coalesce((SELECT members_complete_at FROM og_groups WHERE og_id = @ogId), @at) <= @at
       ON CONFLICT (og_id, uid) DO UPDATE SET state = excluded.state, is_admin = excluded.is_admin,
         changed_at = excluded.changed_at, dirty_seq = excluded.dirty_seq, ${RESET_SYNC}
       WHERE og_members.changed_at <= excluded.changed_at
       RETURNING uid`,
    ),
    markMembersComplete: db.prepare(
      'UPDATE og_groups SET members_complete_at = max(coalesce(members_complete_at, @at), @at) WHERE og_id = @ogId',
    ),
    deleteUnlisted: db.prepare(
      `UPDATE og_members SET state = 'deleted', is_admin = 0, changed_at = ?, dirty_seq = ?, ${RESET_SYNC}
       WHERE og_id = ? AND changed_at <= ? AND state <> 'deleted'
         AND uid NOT IN (SELECT value FROM json_each(?))
       RETURNING uid`,
    ),
    groupBefore: db.prepare('SELECT deleted, owner_uid FROM og_groups WHERE og_id = ?'),
    redirtyMember: db.prepare(`UPDATE og_members SET dirty_seq = ?, ${RESET_SYNC} WHERE og_id = ? AND uid = ? RETURNING uid`),
    // Re-marking an item keeps what its events already achieved (synced_seq): only the work is new.
    redirtyGroup: db.prepare(`UPDATE og_groups SET dirty_seq = ?, ${RESET_SYNC} WHERE og_id = ?`),
    redirtyGroupMembers: db.prepare(`UPDATE og_members SET dirty_seq = ?, ${RESET_SYNC} WHERE og_id = ?`),
    reviveGroup: db.prepare(`UPDATE og_groups SET dirty_seq = ?, ${RESET_SYNC} WHERE og_id = ? AND sync_state = 'dead'`),
    // A replayed event, and the ones after it, show as pending until the item is synced again.
    replayGroup: db.prepare(
      `UPDATE og_groups SET dirty_seq = ?, synced_seq = min(synced_seq, ? - 1), ${RESET_SYNC} WHERE og_id = ?`,
    ),
    replayMember: db.prepare(
      `UPDATE og_members SET dirty_seq = ?, synced_seq = min(synced_seq, ? - 1), ${RESET_SYNC} WHERE og_id = ? AND uid = ?`,
    ),
    // Due work is found from the dirty items (indexed), not by visiting every group.
    claimGroup: db.prepare(
      `UPDATE og_groups SET lease_owner = @owner, lease_until = ${STORE_NOW} + @leaseMs, lease_token = lease_token + 1
       WHERE og_id = (
         SELECT g.og_id FROM og_groups g
         JOIN (SELECT og_id FROM og_groups WHERE sync_state = 'dirty' AND next_attempt_at <= @now
               UNION
               SELECT og_id FROM og_members WHERE sync_state = 'dirty' AND next_attempt_at <= @now) due
           ON due.og_id = g.og_id
         WHERE g.lease_until <= ${STORE_NOW} AND g.sync_state <> 'dead' AND g.next_attempt_at <= @now
         ORDER BY g.lease_until, g.og_id LIMIT 1)
       RETURNING og_id, lease_token`,
    ),
  };
}

type Statements = ReturnType<typeof prepare>;
