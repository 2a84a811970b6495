// The answers of the HTTP API as TypeBox schemas. Each carries an `$id`: the app adds them as
// shared schemas, routes point at them with `ref()`, Fastify serializes answers with them, and
// openapi.yaml lists them under components.schemas by that id.
import { Type, type Static, type TSchema } from 'typebox';
import { EVENT_TYPES } from '../events/schemas.js';

/** A `$ref` to a shared schema, typed as the schema it names. */
export function ref<T extends TSchema>(schema: T) {
  const id = (schema as { $id?: unknown }).$id;
  if (typeof id !== 'string') throw new Error('ref() names a shared schema, which has an $id');
  return Type.Unsafe<Static<T>>({ $ref: `${id}#` });
}

/** A route's JSON answer: one of the shared schemas, and what the answer means. */
export function jsonAnswer<T extends TSchema>(schema: T, description: string) {
  return { description, content: { 'application/json': { schema: ref(schema) } } };
}

const Nullable = <T extends TSchema>(schema: T, description?: string) =>
  Type.Union([schema, Type.Null()], description === undefined ? {} : { description });
const EpochMs = (description: string) => Type.Integer({ description: `${description} (Unix epoch milliseconds)` });

export const SyncState = Type.Enum(['dirty', 'clean', 'dead'], {
  $id: 'SyncState',
  description: '`dirty`: waiting to be synced (or retrying); `clean`: CiviCRM matches; `dead`: failed for good until replayed',
});

export const GroupContactStatus = Type.String({ $id: 'GroupContactStatus', description: 'A CiviCRM GroupContact status', examples: ['Added', 'Removed'] });

const Side = Type.Enum(['member', 'acl'], { description: 'The member group or the ACL (administrators) group' });

export const Accepted = Type.Object(
  {
    id: Type.String({ description: 'The event id: `webhook-id`, `X-Drupal-Delivery`, or the id of a manual event' }),
    status: Type.Enum(['accepted', 'duplicate', 'ignored'], {
      description:
        '`accepted`: stored durably before this answer, it will be applied; `duplicate`: an event with this id was ' +
        'accepted before, nothing new happens; `ignored`: validly signed, but nothing the service syncs',
    }),
  },
  {
    $id: 'Accepted',
    description: 'The answer to a delivery that was taken (or knowingly dropped). Nothing is stored for any other answer.',
  },
);

export const CiviCrmHealth = Type.Object(
  {
    reachable: Nullable(Type.Boolean(), 'Whether CiviCRM gave a usable answer to the last call; null before any call'),
    lastContactAt: Nullable(Type.String({ format: 'date-time' }), 'When CiviCRM last answered'),
    version: Nullable(Type.String(), 'CiviCRM version from System.get'),
    lastError: Nullable(Type.String(), 'Why the last call got no usable answer'),
  },
  { $id: 'CiviCrmHealth', description: 'What the service last heard from CiviCRM' },
);

export const Liveness = Type.Object({ status: Type.Literal('ok') }, { $id: 'Liveness' });

export const Readiness = Type.Object(
  {
    status: Type.Enum(['ready', 'unavailable', 'shutting-down']),
    store: Type.String({ description: '`writable`, `not writable`, or `unknown` while shutting down (the reason is in the log and GET /admin/status)' }),
    civicrm: Nullable(ref(CiviCrmHealth), 'null when the service runs without the sync side'),
  },
  {
    $id: 'Readiness',
    description: 'Readiness: ready when the store takes writes. `civicrm` tells whether CiviCRM answered lately; it does not decide readiness.',
  },
);

const Counts = Type.Object({ dirty: Type.Integer(), dead: Type.Integer(), total: Type.Integer() });

export const AdminStatus = Type.Object(
  {
    version: Type.String({ description: 'The service version' }),
    database: Type.Enum(['sqlite', 'postgres'], { description: 'The store in use' }),
    startedAt: Type.String({ format: 'date-time', description: 'When this process started' }),
    uptimeSeconds: Type.Integer({ description: 'Seconds since this process started' }),
    accepting: Type.Boolean({ description: 'False while shutting down' }),
    accepted: Type.Integer({ description: 'Events accepted (all time)' }),
    pending: Type.Integer({ description: 'Events whose changes wait to be applied' }),
    retrying: Type.Integer({ description: 'Events whose changes failed and wait for a retry' }),
    dead: Type.Integer({ description: 'Events with a change that failed for good (see GET /admin/events?status=dead)' }),
    done: Type.Integer({ description: 'Events fully applied' }),
    work: Type.Object({ groups: Counts, members: Counts }, { description: 'Ledger items (OG groups, memberships) by sync state' }),
    store: Type.Object(
      {
        available: Type.Boolean(),
        since: Nullable(Type.String({ format: 'date-time' }), 'When the current outage began'),
        lastError: Nullable(Type.String(), "The database driver's last message during an outage"),
      },
      { description: 'Whether the store answered the last call made to it' },
    ),
    civicrm: ref(CiviCrmHealth),
  },
  { $id: 'AdminStatus' },
);

export const EventSummary = Type.Object(
  {
    id: Type.String(),
    source: Type.Enum(['og', 'drupal'], { description: '`og`: native or manual event; `drupal`: a Drupal webhooks delivery' }),
    type: Type.Enum(EVENT_TYPES),
    status: Type.Enum(['pending', 'dead', 'done'], { description: '`pending` includes events waiting for a retry' }),
    received_at: Type.String({ format: 'date-time' }),
    occurred_at: Type.String({ format: 'date-time', description: 'The event `timestamp` (time of the change in Drupal)' }),
    attempts: Type.Integer({ description: 'Failed attempts so far of the items the event changed' }),
    last_error: Nullable(Type.String(), 'Why the last attempt failed'),
  },
  { $id: 'EventSummary' },
);

export const EventList = Type.Object(
  {
    events: Type.Array(ref(EventSummary), { description: 'Newest first' }),
    next_cursor: Type.Optional(Type.String({ description: 'With status=done, when the page is full: the cursor of the next (older) page' })),
  },
  { $id: 'EventList' },
);

export const Replayed = Type.Object({ id: Type.String(), status: Type.Literal('pending') }, { $id: 'Replayed' });

export const BulkReplayed = Type.Object(
  {
    replayed: Type.Integer({ description: 'Dead events put back to pending' }),
    more: Type.Boolean({ description: 'True when dead events are left: at most 1,000 are replayed per call' }),
  },
  { $id: 'BulkReplayed' },
);

export const GroupCiviState = Type.Object(
  {
    memberGroupId: Type.Optional(Type.Integer({ description: 'CiviCRM id of the member group' })),
    aclGroupId: Type.Optional(Type.Integer({ description: 'CiviCRM id of the ACL group' })),
    roleId: Type.Optional(Type.Integer({ description: 'Option value id of the ACL role' })),
    roleValue: Type.Optional(Type.Integer({ description: 'The ACL role value' })),
    memberTitle: Type.Optional(Type.String()),
    aclTitle: Type.Optional(Type.String()),
    active: Type.Optional(Type.Boolean()),
    objectTable: Type.Optional(
      Type.Enum(['civicrm_group', 'civicrm_saved_search'], { description: 'Depends on the CiviCRM version (5.64 and later: civicrm_group)' }),
    ),
  },
  // All optional: this is a hint kept between syncs, and an answer must not fail on an old one.
  { $id: 'GroupCiviState', description: 'What the last successful sync found and made in CiviCRM' },
);

export const GroupRecord = Type.Object(
  {
    ogId: Type.Integer(),
    title: Type.Optional(Type.String({ description: 'Absent while only memberships of the group have been seen' })),
    description: Type.Optional(Type.String()),
    ownerUid: Type.Optional(Type.Integer({ description: 'The Drupal uid of the group owner, an administrator whatever the membership says' })),
    deleted: Type.Boolean(),
    changedAt: EpochMs('Time of the change that set the group'),
    syncState: ref(SyncState),
    dirtySeq: Type.Integer(),
    attempts: Type.Integer(),
    lastError: Type.Optional(Type.String()),
    civi: Type.Optional(ref(GroupCiviState)),
    syncedAt: Type.Optional(EpochMs('Last successful sync')),
  },
  { $id: 'GroupRecord' },
);

export const MemberRecord = Type.Object(
  {
    ogId: Type.Integer(),
    uid: Type.Integer({ description: 'Drupal user id' }),
    state: Type.Enum(['active', 'pending', 'blocked', 'deleted']),
    isAdmin: Type.Boolean({ description: "The OG administrator role, as the membership has it (the group's owner is an administrator by ownership: see the group's ownerUid)" }),
    changedAt: Type.Integer({
      description: "Time of the change that set the membership (Unix epoch milliseconds); -1 for the row given to a group's owner who has no membership of their own",
    }),
    syncState: ref(SyncState),
    dirtySeq: Type.Integer(),
    attempts: Type.Integer(),
    lastError: Type.Optional(Type.String({ description: 'e.g. `no CiviCRM contact for Drupal user 7 and no email to create one`' })),
    civiMemberStatus: Type.Optional(ref(GroupContactStatus)),
    civiAclStatus: Type.Optional(ref(GroupContactStatus)),
  },
  { $id: 'MemberRecord' },
);

export const GroupState = Type.Object({ group: ref(GroupRecord), members: Type.Array(ref(MemberRecord)) }, { $id: 'GroupState' });

const nextCursor = (what: string) => Type.Optional(Type.String({ description: `When the page is full: the cursor of the next page (${what})` }));

export const GroupList = Type.Object(
  { groups: Type.Array(ref(GroupRecord), { description: 'By OG id' }), next_cursor: nextCursor('the last OG id') },
  { $id: 'GroupList' },
);

export const MemberList = Type.Object(
  { members: Type.Array(ref(MemberRecord), { description: 'By uid' }), next_cursor: nextCursor('the last uid') },
  { $id: 'MemberList' },
);

export const ReconcileReport = Type.Object(
  {
    ogId: Type.Integer(),
    dryRun: Type.Boolean(),
    memberGroupId: Nullable(Type.Integer()),
    aclGroupId: Nullable(Type.Integer()),
    groupChanges: Type.Array(Type.String(), { description: 'Group, role and ACL changes made (dry run: the first that would be made)' }),
    missing: Type.Array(
      Type.Object({ uid: Type.Integer(), contactId: Type.Integer(), group: Side, wanted: ref(GroupContactStatus) }),
      { description: 'Members without their row in a group; the worker writes it' },
    ),
    wrongStatus: Type.Array(
      Type.Object({ uid: Type.Integer(), contactId: Type.Integer(), group: Side, actual: ref(GroupContactStatus), wanted: ref(GroupContactStatus) }),
      { description: 'Members whose row has the wrong status; the worker corrects it' },
    ),
    extra: Type.Array(Type.Object({ contactId: Type.Integer(), group: Side, actual: ref(GroupContactStatus) }), {
      description: 'Contacts in a synced group whom OG does not have there; set Removed',
    }),
    withoutContact: Type.Array(Type.Integer(), { description: 'Drupal uids with no CiviCRM contact yet' }),
  },
  { $id: 'ReconcileReport', description: 'What a reconcile found: CiviCRM compared with the ledger (OG is the source of truth)' },
);

export const Reconciling = Type.Object(
  {
    ogId: Type.Integer(),
    status: Type.Enum(['pending', 'dry-run'], { description: '`dry-run`: nothing was changed; `pending`: repaired, members being written' }),
    report: Type.Optional(ref(ReconcileReport)),
  },
  { $id: 'Reconciling' },
);

export const Activity = Type.Object(
  {
    minutes: Type.Array(
      Type.Object({
        at: Type.String({ format: 'date-time', description: "The minute's start" }),
        accepted: Type.Integer({ description: 'Events this process accepted during the minute' }),
        backlog: Nullable(
          Type.Integer(),
          'The largest backlog (dirty groups and members) read during the minute; null when none was read (the process was not running)',
        ),
      }),
      { description: 'The last 60 minutes, oldest first' },
    ),
  },
  { $id: 'Activity' },
);

/** Every shared schema, each before those that point at it. */
export const SHARED_SCHEMAS: TSchema[] = [
  SyncState,
  GroupContactStatus,
  Accepted,
  Liveness,
  CiviCrmHealth,
  Readiness,
  AdminStatus,
  EventSummary,
  EventList,
  Replayed,
  BulkReplayed,
  GroupCiviState,
  GroupRecord,
  MemberRecord,
  GroupState,
  GroupList,
  MemberList,
  ReconcileReport,
  Reconciling,
  Activity,
];
