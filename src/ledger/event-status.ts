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

/** One row per event with its derived status; plain SQL that SQLite and PostgreSQL share. */
export const EVENT_STATUS_SQL = `
SELECT seq, id, source, type, received_at, occurred_at,
  CASE rank WHEN 3 THEN 'dead' WHEN 2 THEN 'retrying' WHEN 1 THEN 'pending' ELSE 'done' END AS status,
  attempts, last_error
FROM (
  SELECT e.seq, e.id, e.source, e.type, e.received_at, e.occurred_at,
    coalesce(max(CASE
      WHEN coalesce(m.synced_seq, g.synced_seq) >= e.seq THEN 0
      WHEN coalesce(m.sync_state, g.sync_state) = 'dead' THEN 3
      WHEN coalesce(m.attempts, g.attempts) > 0 THEN 2
      WHEN coalesce(m.sync_state, g.sync_state) IS NULL THEN 0
      ELSE 1 END), 0) AS rank,
    max(CASE WHEN coalesce(m.synced_seq, g.synced_seq) < e.seq THEN coalesce(m.attempts, g.attempts) END) AS attempts,
    max(CASE WHEN coalesce(m.synced_seq, g.synced_seq) < e.seq THEN coalesce(m.last_error, g.last_error) END) AS last_error
  FROM events e
  LEFT JOIN event_targets t ON t.event_seq = e.seq
  LEFT JOIN og_groups g ON t.uid = 0 AND g.og_id = t.og_id
  LEFT JOIN og_members m ON t.uid <> 0 AND m.og_id = t.og_id AND m.uid = t.uid
  GROUP BY e.seq, e.id, e.source, e.type, e.received_at, e.occurred_at
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
