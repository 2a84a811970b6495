// An event's status is derived, never stored: it is done when every ledger item it changed
// has been synced past it, dead when one of those items is dead, pending otherwise.
// Deriving it keeps the event log append-only and the status always in step with the items.
import type { EventSource, EventType } from '../events/model.js';
import type { EventCounts, EventSummary } from './store.js';

export interface EventRow {
  seq: number;
  id: string;
  source: EventSource;
  type: EventType;
  received_at: number;
  occurred_at: number;
  status: 'pending' | 'retrying' | 'dead' | 'done';
  attempts: number | null;
  last_error: string | null;
}

/**
 * One row per event with its derived status; plain SQL that SQLite and PostgreSQL share.
 * A membership cannot be synced while its group is not, so a membership event also shows
 * its group's failure. `candidates`, a query of event seqs, limits the work to those events.
 */
export function eventStatusSql(candidates?: string): string {
  return `
SELECT seq, id, source, type, received_at, occurred_at,
  CASE rank WHEN 3 THEN 'dead' WHEN 2 THEN 'retrying' WHEN 1 THEN 'pending' ELSE 'done' END AS status,
  attempts, last_error
FROM (
  SELECT seq, id, source, type, received_at, occurred_at,
    coalesce(max(CASE
      WHEN item_state IS NULL OR item_synced >= seq THEN 0
      WHEN item_state = 'dead' OR group_state = 'dead' THEN 3
      WHEN item_attempts > 0 OR group_attempts > 0 THEN 2
      ELSE 1 END), 0) AS rank,
    max(CASE WHEN item_synced < seq THEN
      CASE WHEN item_attempts > group_attempts THEN item_attempts ELSE group_attempts END END) AS attempts,
    max(CASE WHEN item_synced < seq THEN coalesce(item_error, group_error) END) AS last_error
  FROM (
    SELECT e.seq, e.id, e.source, e.type, e.received_at, e.occurred_at,
      CASE WHEN t.uid = 0 THEN g.sync_state ELSE m.sync_state END AS item_state,
      CASE WHEN t.uid = 0 THEN g.synced_seq ELSE m.synced_seq END AS item_synced,
      CASE WHEN t.uid = 0 THEN g.attempts ELSE m.attempts END AS item_attempts,
      CASE WHEN t.uid = 0 THEN g.last_error ELSE m.last_error END AS item_error,
      g.sync_state AS group_state, g.attempts AS group_attempts, g.last_error AS group_error
    FROM events e
    LEFT JOIN event_targets t ON t.event_seq = e.seq
    LEFT JOIN og_groups g ON g.og_id = t.og_id
    LEFT JOIN og_members m ON t.uid <> 0 AND m.og_id = t.og_id AND m.uid = t.uid
    ${candidates ? `WHERE e.seq IN (${candidates})` : ''}
  ) items
  GROUP BY seq, id, source, type, received_at, occurred_at
) ranked`;
}

/**
 * The events that can be anything but done: those that changed an item not clean now. Driven
 * from the unclean items (few, and found through the sync_state indexes) to their targets
 * (through the (og_id, uid) index), never by visiting the whole log.
 */
export const UNSETTLED_EVENTS = `
  SELECT t.event_seq FROM event_targets t
  WHERE (t.og_id, t.uid) IN (SELECT og_id, uid FROM og_members WHERE sync_state IN ('dirty', 'dead'))
  UNION
  SELECT t.event_seq FROM event_targets t
  WHERE t.og_id IN (SELECT og_id FROM og_groups WHERE sync_state IN ('dirty', 'dead'))`;

/** The newest events; the one parameter: how many. */
const NEWEST_EVENTS = 'SELECT seq FROM events ORDER BY seq DESC LIMIT ?';

/**
 * True for an event `e` that is done: every item it changed has been synced past it (or is
 * gone). The same test as the rank 0 of eventStatusSql, for one event, through its targets.
 */
const IS_DONE = `NOT EXISTS (
    SELECT 1 FROM event_targets t
    LEFT JOIN og_groups g ON g.og_id = t.og_id
    LEFT JOIN og_members m ON t.uid <> 0 AND m.og_id = t.og_id AND m.uid = t.uid
    WHERE t.event_seq = e.seq
      AND (CASE WHEN t.uid = 0 THEN g.sync_state ELSE m.sync_state END) IS NOT NULL
      AND (CASE WHEN t.uid = 0 THEN g.synced_seq ELSE m.synced_seq END) < e.seq)`;

/** A statement and its parameters, in the order of their `?`. */
export interface Query {
  sql: string;
  params: unknown[];
}

/**
 * The newest `limit` done events older than event `beforeSeq`: found walking the log back from
 * the cursor, each checked through its own targets, so a page costs about its own size.
 */
function settledEvents(limit: number, beforeSeq?: number): Query {
  if (beforeSeq === undefined) return { sql: `SELECT e.seq FROM events e WHERE ${IS_DONE} ORDER BY e.seq DESC LIMIT ?`, params: [limit] };
  return { sql: `SELECT e.seq FROM events e WHERE e.seq < ? AND ${IS_DONE} ORDER BY e.seq DESC LIMIT ?`, params: [beforeSeq, limit] };
}

/** Done events received before `receivedBefore`, oldest first: what retention may prune. */
export function prunableEvents(receivedBefore: number, limit: number): Query {
  return {
    sql: `SELECT e.seq FROM events e WHERE e.received_at < ? AND ${IS_DONE} ORDER BY e.seq LIMIT ?`,
    params: [receivedBefore, limit],
  };
}

export interface EventFilter {
  status?: 'pending' | 'dead' | 'done';
  limit: number;
  /** With `done`: only events older than this one (the cursor of the page before). */
  beforeSeq?: number;
}

/**
 * A listing's query and the statuses it keeps: only the events that can match are ranked. Values
 * are parameters, never text: each text is a statement the database prepares and keeps.
 */
export function listingQuery(filter: EventFilter): Query & { statuses?: Array<EventRow['status']> } {
  switch (filter.status) {
    case 'pending':
      return { sql: eventStatusSql(UNSETTLED_EVENTS), params: [], statuses: ['pending', 'retrying'] };
    case 'dead':
      return { sql: eventStatusSql(UNSETTLED_EVENTS), params: [], statuses: ['dead'] };
    case 'done': {
      const settled = settledEvents(filter.limit, filter.beforeSeq);
      return { sql: eventStatusSql(settled.sql), params: settled.params, statuses: ['done'] };
    }
    default:
      return { sql: eventStatusSql(NEWEST_EVENTS), params: [filter.limit] };
  }
}

/** Counts from the total and the ranked unsettled events: every other event is done. */
export function eventCountsOf(total: number, unsettled: Array<{ status: EventRow['status']; n: number }>): EventCounts {
  const counts: EventCounts = { accepted: total, pending: 0, retrying: 0, dead: 0, done: total };
  for (const row of unsettled) {
    if (row.status === 'done') continue;
    counts[row.status] += Number(row.n);
    counts.done -= Number(row.n);
  }
  return counts;
}

export function eventSummary(row: EventRow): EventSummary {
  return {
    id: row.id,
    source: row.source,
    type: row.type,
    status: row.status === 'retrying' ? 'pending' : row.status,
    received_at: new Date(Number(row.received_at)).toISOString(),
    occurred_at: new Date(Number(row.occurred_at)).toISOString(),
    attempts: row.attempts ?? 0,
    last_error: row.last_error,
  };
}
