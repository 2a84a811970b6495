// Numbered schema migrations. A migration, once released, is never edited: add the next one.
// Each entry is plain SQL that SQLite and PostgreSQL both read, except where a dialect
// variant is given.

export interface Migration {
  version: number;
  name: string;
  sql: { sqlite: string; postgres: string };
}

/** Bookkeeping every ledger item carries for the reconciler. */
const SYNC_COLUMNS = `sync_state TEXT NOT NULL DEFAULT 'dirty',
  dirty_seq BIGINT NOT NULL DEFAULT 0,
  synced_seq BIGINT NOT NULL DEFAULT 0,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at BIGINT NOT NULL DEFAULT 0,
  last_error TEXT`;

const ledger = (autoId: string) => `
CREATE TABLE events (
  seq ${autoId},
  id TEXT NOT NULL UNIQUE,
  source TEXT NOT NULL,
  type TEXT NOT NULL,
  occurred_at BIGINT NOT NULL,
  received_at BIGINT NOT NULL,
  change TEXT NOT NULL
);

-- The ledger items an event changed: uid 0 is the group itself.
CREATE TABLE event_targets (
  event_seq BIGINT NOT NULL REFERENCES events(seq),
  og_id BIGINT NOT NULL,
  uid BIGINT NOT NULL,
  PRIMARY KEY (event_seq, og_id, uid)
);
CREATE INDEX event_targets_item ON event_targets (og_id, uid);

-- Desired state of each OG group, and what is known of it in CiviCRM.
-- dirty_seq/synced_seq work like a controller's generation/observedGeneration: the
-- item is clean when the last sync saw the latest change.
CREATE TABLE og_groups (
  og_id BIGINT PRIMARY KEY,
  title TEXT,
  description TEXT,
  deleted INTEGER NOT NULL DEFAULT 0,
  changed_at BIGINT NOT NULL,
  ${SYNC_COLUMNS},
  lease_owner TEXT,
  lease_until BIGINT NOT NULL DEFAULT 0,
  civi TEXT,
  synced_at BIGINT
);
CREATE INDEX og_groups_work ON og_groups (sync_state, next_attempt_at);

CREATE TABLE og_members (
  og_id BIGINT NOT NULL,
  uid BIGINT NOT NULL,
  state TEXT NOT NULL,
  is_admin INTEGER NOT NULL,
  changed_at BIGINT NOT NULL,
  ${SYNC_COLUMNS},
  civi_member_status TEXT,
  civi_acl_status TEXT,
  PRIMARY KEY (og_id, uid)
);
CREATE INDEX og_members_work ON og_members (og_id, sync_state, next_attempt_at);
CREATE INDEX og_members_state ON og_members (sync_state);

-- Drupal user profiles as last seen, and the CiviCRM contact each resolved to.
CREATE TABLE users (
  uid BIGINT PRIMARY KEY,
  email TEXT,
  first_name TEXT,
  last_name TEXT,
  contact_id BIGINT
);
`;

export const migrations: Migration[] = [
  {
    version: 1,
    name: 'ledger',
    sql: {
      sqlite: ledger('INTEGER PRIMARY KEY AUTOINCREMENT'),
      postgres: ledger('BIGSERIAL PRIMARY KEY'),
    },
  },
  {
    version: 2,
    name: 'member list completeness, write probe, due-work index',
    // members_complete_at: the time of the newest snapshot. A membership first heard of with
    // an older time was left out of that complete list on purpose, and must not come back.
    sql: {
      sqlite: `ALTER TABLE og_groups ADD COLUMN members_complete_at BIGINT;
        CREATE TABLE store_probe (id INTEGER PRIMARY KEY, at BIGINT NOT NULL);
        CREATE INDEX og_members_due ON og_members (sync_state, next_attempt_at);`,
      postgres: `ALTER TABLE og_groups ADD COLUMN members_complete_at BIGINT;
        CREATE TABLE store_probe (id INTEGER PRIMARY KEY, at BIGINT NOT NULL);
        CREATE INDEX og_members_due ON og_members (sync_state, next_attempt_at);`,
    },
  },
  {
    version: 3,
    name: 'group owner, contact link, resync time',
    // owner_uid: OG gives its owner access through ownership, not a role: the owner's membership
    // carries no administrator role, and may be dated after the group event that named the owner.
    // contact_linked: the cached contact is the user's through a UFMatch, which follows merges.
    // resynced_at: when the group was last re-observed in CiviCRM by the periodic resync.
    sql: {
      sqlite: `ALTER TABLE og_groups ADD COLUMN owner_uid BIGINT;
        ALTER TABLE og_groups ADD COLUMN resynced_at BIGINT;
        ALTER TABLE users ADD COLUMN contact_linked INTEGER;`,
      postgres: `ALTER TABLE og_groups ADD COLUMN owner_uid BIGINT;
        ALTER TABLE og_groups ADD COLUMN resynced_at BIGINT;
        ALTER TABLE users ADD COLUMN contact_linked INTEGER;`,
    },
  },
  {
    version: 4,
    name: 'fencing tokens',
    // Grows with every claim of the group; results are recorded only under the newest one.
    sql: {
      sqlite: 'ALTER TABLE og_groups ADD COLUMN lease_token BIGINT NOT NULL DEFAULT 0;',
      postgres: 'ALTER TABLE og_groups ADD COLUMN lease_token BIGINT NOT NULL DEFAULT 0;',
    },
  },
  {
    version: 5,
    name: 'accepted-event counter',
    // Events accepted all time, kept in the accept's own transaction: the log itself is pruned,
    // and counting it would cost its whole length. Spread over shards so that replicas
    // accepting at once do not queue on one row.
    sql: {
      sqlite: `CREATE TABLE event_counter (shard INTEGER PRIMARY KEY, accepted BIGINT NOT NULL);
        INSERT INTO event_counter (shard, accepted) SELECT 0, count(*) FROM events;`,
      postgres: `CREATE TABLE event_counter (shard INTEGER PRIMARY KEY, accepted BIGINT NOT NULL);
        INSERT INTO event_counter (shard, accepted) SELECT 0, count(*) FROM events;`,
    },
  },
  {
    version: 6,
    name: 'groups with dirty members',
    // The worker finds the groups with dirty members by stepping from one og_id to the next in
    // this index, not by reading every dirty member. It serves what (sync_state) and
    // (sync_state, next_attempt_at) served, and every membership written updates one index less.
    sql: {
      // Built before the drops: on PostgreSQL a drop locks the table against reads until commit.
      sqlite: `CREATE INDEX og_members_state_group ON og_members (sync_state, og_id);
        DROP INDEX og_members_state;
        DROP INDEX og_members_due;`,
      postgres: `CREATE INDEX og_members_state_group ON og_members (sync_state, og_id);
        DROP INDEX og_members_state;
        DROP INDEX og_members_due;`,
    },
  },
];
