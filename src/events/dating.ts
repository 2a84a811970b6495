// When a change happened. A change with a time of its own (a node's `changed`, a native event's
// `timestamp`) carries it. One without is dated by its receipt, and the store dates it, by its
// own clock, as it takes the event (Ledger.#insertEvents): replicas' clocks disagree, and a change
// received by one replica must never be dated before the change another replica answered just
// before it (Drupal posts each change once the one before was answered).
import type { EventSource, OgChange, OgEvent } from './model.js';

/**
 * A change dated by its receipt. `after`: it came after this time (a deleted node's last edit,
 * by Drupal's clock), so it is dated a millisecond after it when that is later than the receipt:
 * a tie would let that edit, arriving late, undo it.
 */
export interface AtReceipt {
  after?: number;
}

/**
 * An event received now, dated by its own time when it has one. Without, it carries this host's
 * time only until the store dates it by its own.
 */
export function receivedEvent(
  fields: { id: string; source: EventSource; change: OgChange },
  ownTime: number | undefined,
  dating: AtReceipt = {},
  now = Date.now(),
): OgEvent {
  if (ownTime !== undefined) return { ...fields, occurredAt: ownTime, receivedAt: now };
  return { ...fields, occurredAt: now, receivedAt: now, atReceipt: dating };
}
