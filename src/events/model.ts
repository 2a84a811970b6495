// The normalized form of every accepted event, whatever route it came by.
// Ids are numbers, optional text is absent rather than empty, times are epoch milliseconds.

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
  owner?: OgUser;
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
}

/** The OG group an event is about. */
export function groupIdOf(change: OgChange): number {
  return 'group' in change ? change.group.id : change.groupId;
}
