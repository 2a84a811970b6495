// TypeBox schemas of the native events: the single source for request validation
// and for the components of openapi.yaml.
import { Type, type Static } from 'typebox';

// Drupal ids are unsigned integers; numeric strings are accepted because Drupal's
// normalizers emit them as strings. The string form is bounded so it stays exact as a number.
export const Id = Type.Union(
  [
    Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }),
    Type.String({ pattern: '^[1-9][0-9]{0,14}$' }),
  ],
  { description: 'A positive integer id (a numeric string is accepted).' },
);

const Text = (maxLength: number, description: string) => Type.String({ maxLength, description });

export const User = Type.Object(
  {
    id: Id,
    email: Type.Optional(Type.String({ maxLength: 254, description: 'Drupal account email' })),
    first_name: Type.Optional(Text(255, 'Given name')),
    last_name: Type.Optional(Text(255, 'Family name')),
  },
  { $id: 'User', description: 'A Drupal user; only `id` (the uid) is required.' },
);

export const UserRef = Type.Object({ id: Id }, { $id: 'UserRef' });

export const Group = Type.Object(
  {
    id: Id,
    title: Type.String({ minLength: 1, maxLength: 1024, pattern: '\\S', description: 'The OG group title (not blank)' }),
    description: Type.Optional(Text(65_535, 'Group description')),
    owner: Type.Optional(User),
  },
  { $id: 'Group' },
);

export const GroupRef = Type.Object({ id: Id }, { $id: 'GroupRef' });

export const MembershipState = Type.Enum(['active', 'pending', 'blocked'], {
  $id: 'MembershipState',
  description: 'OG membership state',
});

const Membership = {
  user: User,
  state: MembershipState,
  is_admin: Type.Boolean(),
};

export const GroupData = Type.Object({ group: Group });
export const GroupDeletedData = Type.Object({ group: GroupRef });
export const MembershipData = Type.Object({ group_id: Id, ...Membership });
export const MembershipDeletedData = Type.Object({ group_id: Id, user: UserRef });
export const SnapshotMember = Type.Object(Membership, { $id: 'SnapshotMember' });
export const SnapshotData = Type.Object({
  group: Group,
  members: Type.Array(SnapshotMember, { maxItems: 100_000 }),
});

export const Timestamp = Type.String({
  format: 'date-time',
  description: 'RFC 3339 time of the change in Drupal; orders changes to the same group or membership.',
});

const variant = <K extends string, D extends ReturnType<typeof Type.Object>>(type: K, data: D, withTimestamp: boolean) =>
  Type.Object({
    type: Type.Literal(type),
    timestamp: withTimestamp ? Timestamp : Type.Optional(Timestamp),
    data,
  });

function eventVariants<const T extends boolean>(withTimestamp: T) {
  return {
    'og.group.created': variant('og.group.created', GroupData, withTimestamp),
    'og.group.updated': variant('og.group.updated', GroupData, withTimestamp),
    'og.group.deleted': variant('og.group.deleted', GroupDeletedData, withTimestamp),
    'og.membership.created': variant('og.membership.created', MembershipData, withTimestamp),
    'og.membership.updated': variant('og.membership.updated', MembershipData, withTimestamp),
    'og.membership.deleted': variant('og.membership.deleted', MembershipDeletedData, withTimestamp),
    'og.group.snapshot': variant('og.group.snapshot', SnapshotData, withTimestamp),
  };
}

/** Each native event type's body schema, timestamp required (`POST /webhooks/og`). */
export const NativeEventVariants = eventVariants(true);
/** Each event type's body schema for `POST /admin/events`: timestamp optional, `id` optional. */
export const ManualEventVariants = eventVariants(false);

const ManualId = Type.Object({ id: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })) });

/** Body of `POST /webhooks/og`. */
export const NativeEventBody = Type.Union(Object.values(NativeEventVariants));
/** Body of `POST /admin/events`. */
export const ManualEventBody = Type.Intersect([Type.Union(Object.values(ManualEventVariants)), ManualId]);
export { ManualId };

export type NativeEventBody = Static<typeof NativeEventBody>;
export type ManualEventBody = Static<typeof ManualEventBody>;
export type SnapshotData = Static<typeof SnapshotData>;

export type EventTypeName = keyof typeof NativeEventVariants;
export const EVENT_TYPES = Object.keys(NativeEventVariants) as EventTypeName[];
