// The normalized form of every accepted event, whatever route it came by.
// Ids are numbers, optional text is absent rather than empty, times are epoch milliseconds.
import type { AtReceipt } from './dating.js';

export type MemberState = 'active' | 'pending' | 'blocked';

export interface OgUser {
  id: number;
  email?: string;
  firstName?: string;
  lastName?: string;
}

export interface OgGroup {
  id: number;
  title: string;
  description?: string;
  /**
   * Absent: not said, the owner known stands. `null`: the group has none (Drupal reassigns the
   * nodes of a cancelled account to the anonymous user, uid 0).
   */
  owner?: OgUser | null;
}

export interface OgMember {
  user: OgUser;
  state: MemberState;
  isAdmin: boolean;
}

export type OgChange =
  | { type: 'og.group.created' | 'og.group.updated'; group: OgGroup }
  | { type: 'og.group.deleted'; groupId: number }
  | { type: 'og.membership.created' | 'og.membership.updated'; groupId: number; member: OgMember }
  | { type: 'og.membership.deleted'; groupId: number; userId: number }
  | { type: 'og.group.snapshot'; group: OgGroup; members: OgMember[] };

export type EventType = OgChange['type'];
export type EventSource = 'og' | 'drupal';

export interface OgEvent {
  /** Delivery id: `webhook-id`, `X-Drupal-Delivery`, or made for a manual event. */
  id: string;
  source: EventSource;
  /** When the change happened in Drupal; orders changes to the same group or membership. */
  occurredAt: number;
  receivedAt: number;
  change: OgChange;
  /**
   * The change has no time of its own: the store sets `receivedAt`, and `occurredAt` from it, by
   * its own clock as it takes the event (see dating.ts).
   */
  atReceipt?: AtReceipt;
}

/** The OG group an event is about. */
export function groupIdOf(change: OgChange): number {
  return 'group' in change ? change.group.id : change.groupId;
}

/**
 * CiviCRM keeps a group's description in a MySQL `text` column, 65,535 bytes
 * (civicrm-core schema/Contact/Group.entityType.php, `description`: sql_type `text`).
 */
export const DESCRIPTION_MAX_BYTES = 65_535;

/** The description cut, at a character boundary, to what CiviCRM can store. */
export function fitDescription(text: string): string {
  if (text.length * 3 <= DESCRIPTION_MAX_BYTES) return text; // cheap: no UTF-16 unit takes more than 3 bytes
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= DESCRIPTION_MAX_BYTES) return text;
  let end = DESCRIPTION_MAX_BYTES;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--; // back off a continuation byte
  return bytes.subarray(0, end).toString('utf8');
}
