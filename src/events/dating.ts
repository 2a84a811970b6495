// When a change happened. A change with a time of its own (a node's `changed`, a native event's
// `timestamp`) carries it. One without is dated by its receipt, and the store dates it, by its
// own clock, as it takes the event: replicas' clocks disagree, and a change received by one
// replica must never be dated before the change another replica answered just before it (Drupal
// posts each change once the one before was answered).
import { MAX_FUTURE_MS } from './admission.js';
import type { EventSource, OgChange, OgEvent } from './model.js';

/** A change dated by its receipt; `after`: it came after this time (a deleted node's last edit). */
export interface AtReceipt {
  after?: number;
}

/**
 * The time of a change received at `receivedAt`. A change known to come after a time that
 * Drupal's clock puts later than the receipt is dated one millisecond after it: a tie would let
 * that edit, arriving late, undo it. Never beyond what admission takes.
 */
export function receiptTime(dating: AtReceipt, receivedAt: number): number {
  if (dating.after === undefined) return receivedAt;
  return Math.max(receivedAt, Math.min(dating.after + 1, receivedAt + MAX_FUTURE_MS));
}

/**
 * An event received now, dated by its own time when it has one. Without, it is dated by this
 * host's clock only until the store dates it by its own.
 */
export function receivedEvent(
  fields: { id: string; source: EventSource; change: OgChange },
  ownTime: number | undefined,
  dating: AtReceipt = {},
  now = Date.now(),
): OgEvent {
  if (ownTime !== undefined) return { ...fields, occurredAt: ownTime, receivedAt: now };
  return { ...fields, occurredAt: receiptTime(dating, now), receivedAt: now, atReceipt: dating };
}
