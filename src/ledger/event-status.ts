// An event's status is derived, never stored: it is done when every ledger item it changed
// has been synced past it, dead when one of those items is dead, pending otherwise.
// Deriving it keeps the event log append-only and the status always in step with the items.
import type { EventSource, EventType } from '../events/model.js';
import type { EventSummary } from './store.js';

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
 * its group's failure.
 */
export const EVENT_STATUS_SQL = `
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
  ) items
  GROUP BY seq, id, source, type, received_at, occurred_at
) ranked`;

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
