// The operator API under /admin, behind a bearer token. Without ADMIN_TOKEN it does not exist.
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { Type } from 'typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyError, FastifyPluginAsync } from 'fastify';
import { receivedEvent } from '../events/dating.js';
import { parseManualEvent } from '../events/native.js';
import type { StoreAvailability } from '../ledger/availability.js';
import type { EventLog, LedgerReads, OperatorQueries, WorkQueue } from '../ledger/store.js';
import type { Activity } from '../activity.js';
import type { Intake } from './intake.js';
import { keepRawJsonBodies, parseJson, rawBody } from './json-body.js';
import { documentedBody } from './openapi.js';
import { problemResponses } from './problem-types.js';
import { HttpProblem, sendProblem, toProblem } from './problems.js';
import * as Answers from './schemas.js';
import { jsonAnswer } from './schemas.js';

/** What the sync side tells the operator API; absent when only intake runs. */
export interface SyncControl {
  /** Wakes the reconciler after work was put back. */
  wake(): void;
  civicrm(): { reachable: boolean | null; lastContactAt: string | null; version: string | null; lastError: string | null };
  /**
   * Reads CiviCRM's actual state of the group and repairs it (a dry run changes nothing);
   * returns what was found, undefined for an unknown group, 'busy' while the group is being synced.
   */
  reconcileGroup(ogId: number, options?: { dryRun?: boolean }): Promise<object | undefined | 'busy'>;
}

export interface AdminOptions {
  token: string | undefined;
  store: EventLog & OperatorQueries & LedgerReads & Pick<WorkQueue, 'markForReconcile'>;
  availability: StoreAvailability;
  intake: Intake;
  version: string;
  /** The store in use, for the operator's eyes. */
  database: 'sqlite' | 'postgres';
  startedAt: number;
  activity: Activity;
  sync?: SyncControl;
}

const EventsQuery = Type.Object({
  status: Type.Optional(
    Type.Enum(['dead', 'pending', 'done'], { description: '`dead`, `pending` (includes events waiting for a retry) or `done`; all when absent' }),
  ),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100, description: 'At most this many events' })),
  cursor: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 255,
      description: 'With status=done only: the `next_cursor` of the page before; pages back through the settled log',
    }),
  ),
});

const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 255, description: 'The event id' }) });
const SyncStates = (what: string) => Type.Optional(Type.Enum(['clean', 'dirty', 'dead'], { description: `Only ${what} in this sync state` }));
const Cursor = Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,15}$', description: 'The `next_cursor` of the page before' }));
const GroupsQuery = Type.Object({
  state: SyncStates('groups'),
  q: Type.Optional(Type.String({ maxLength: 255, description: 'The OG id, or a part of the title (any case)' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 })),
  cursor: Cursor,
});
const MembersQuery = Type.Object({
  state: SyncStates('members'),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
  cursor: Cursor,
});
/** Dead events replayed by one bulk replay at most; the answer says whether more are left. */
const BULK_REPLAY_LIMIT = 1000;
const GroupParams = Type.Object({
  ogId: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: 'The OG group id (the Drupal node id of the group)' }),
});
const ReconcileQuery = Type.Object({ dryRun: Type.Optional(Type.Boolean({ default: false, description: 'Only report the differences' })) });

const admin = { tags: ['admin'], security: [{ adminToken: [] }] };
/** What every operator route may answer besides its own. */
const ADMIN_PROBLEMS = ['unauthorized', 'not-found', 'store-unavailable'] as const;

export const adminRoutes: FastifyPluginAsync<AdminOptions> = async (plain, options) => {
  // Handlers take their params and query typed from the route's own schemas.
  const app = plain.withTypeProvider<TypeBoxTypeProvider>();
  const { store, availability, intake, activity, sync } = options;
  const expected = options.token === undefined ? undefined : digest(options.token);
  // POST /admin/events answers like /webhooks/og: the same media types, the same strict decoding.
  keepRawJsonBodies(app);

  // What fails unexpectedly here is the store: the operator is told so, with the driver's words.
  app.setErrorHandler((error: FastifyError | HttpProblem, _request, reply) => {
    const problem = toProblem(error);
    if (problem.status !== 500) return sendProblem(reply, problem);
    availability.failed(error);
    return sendProblem(reply, new HttpProblem('store-unavailable', `the store cannot be used: ${error.message}`));
  });

  app.addHook('onRequest', async (request) => {
    if (expected === undefined) throw new HttpProblem('not-found', `no route for ${request.method} ${request.url.split('?')[0]}`);
    const header = request.headers.authorization ?? '';
    const token = /^Bearer\s+(.+)$/i.exec(header)?.[1]?.trim();
    // Digests have equal length, so the comparison takes the same time whatever was sent.
    if (token === undefined || !timingSafeEqual(digest(token), expected)) {
      throw new HttpProblem('unauthorized', 'send Authorization: Bearer <ADMIN_TOKEN>');
    }
  });

  const statusSchema = {
    ...admin,
    operationId: 'getStatus',
    summary: 'Counts of events and work; CiviCRM reachability; version',
    response: { 200: jsonAnswer(Answers.AdminStatus, 'Status'), ...problemResponses(...ADMIN_PROBLEMS) },
  };
  app.get('/admin/status', { schema: statusSchema }, async () => {
    const [events, work] = await Promise.all([store.eventCounts(), store.workCounts()]);
    availability.succeeded();
    activity.backlog(work.groups.dirty + work.members.dirty);
    return {
      version: options.version,
      database: options.database,
      startedAt: new Date(options.startedAt).toISOString(),
      uptimeSeconds: Math.floor((Date.now() - options.startedAt) / 1000),
      accepting: intake.accepting,
      accepted: events.accepted,
      pending: events.pending,
      retrying: events.retrying,
      dead: events.dead,
      done: events.done,
      work,
      store: availability.view(),
      civicrm: sync?.civicrm() ?? { reachable: null, lastContactAt: null, version: null, lastError: null },
    };
  });

  const activitySchema = {
    ...admin,
    operationId: 'getActivity',
    summary: 'The last hour, minute by minute: events accepted and the backlog',
    description:
      'Kept in memory by each process (a restart starts afresh). The backlog is read every minute, and whenever ' +
      'GET /admin/status is asked.',
    response: { 200: jsonAnswer(Answers.Activity, 'The last 60 minutes'), ...problemResponses(...ADMIN_PROBLEMS) },
  };
  app.get('/admin/activity', { schema: activitySchema }, async () => ({ minutes: activity.view() }));

  const manualEventSchema = {
    ...admin,
    operationId: 'postManualEvent',
    summary: 'Trigger an event by hand (no signature)',
    description: 'A native event body with optional `timestamp` and `id`. Answers exactly like `POST /webhooks/og`.',
    ...documentedBody('ManualEvent', {
      snapshot: {
        type: 'og.group.snapshot',
        data: { group: { id: 42, title: 'Chess Club' }, members: [{ user: { id: 7, email: 'ann@example.org' }, state: 'active', is_admin: true }] },
      },
    }),
    response: {
      202: jsonAnswer(Answers.Accepted, 'Taken: stored durably (`accepted`), or seen before (`duplicate`)'),
      ...problemResponses(
        ...ADMIN_PROBLEMS,
        'invalid-json',
        'invalid-event',
        'invalid-content-length',
        'body-too-large',
        'unsupported-media-type',
        'overloaded',
      ),
    },
  };
  app.post('/admin/events', { schema: manualEventSchema }, async (request, reply) => {
    const parsed = parseManualEvent(parseJson(rawBody(request)));
    if (!parsed.ok) throw new HttpProblem('invalid-event', parsed.detail);
    const { change, occurredAt, id } = parsed.value;
    return reply.code(202).send(await intake.accept(receivedEvent({ id: id ?? randomUUID(), source: 'og', change }, occurredAt)));
  });

  const listEventsSchema = {
    ...admin,
    operationId: 'listEvents',
    summary: 'List events, newest first',
    querystring: EventsQuery,
    response: { 200: jsonAnswer(Answers.EventList, 'The events'), ...problemResponses(...ADMIN_PROBLEMS, 'invalid-request') },
  };
  app.get('/admin/events', { schema: listEventsSchema }, async (request) => {
    const { query } = request;
    const limit = query.limit ?? 100;
    if (query.cursor !== undefined && query.status !== 'done') {
      throw new HttpProblem('invalid-request', 'cursor pages through status=done only');
    }
    const events = await store.listEvents({ status: query.status, limit, before: query.cursor });
    // The settled log can be long: it is read a page at a time, from the cursor back.
    const more = query.status === 'done' && events.length === limit;
    return more ? { events, next_cursor: events.at(-1)!.id } : { events };
  });

  const replayDeadSchema = {
    ...admin,
    operationId: 'replayDeadEvents',
    summary: 'Put every dead event back to be applied',
    description: 'Replays the dead events, newest first, up to 1,000 per call; `more` says whether to call again.',
    response: { 202: jsonAnswer(Answers.BulkReplayed, 'Replayed'), ...problemResponses(...ADMIN_PROBLEMS) },
  };
  app.post('/admin/events/replay-dead', { schema: replayDeadSchema }, async (_request, reply) => {
    const dead = await store.listEvents({ status: 'dead', limit: BULK_REPLAY_LIMIT });
    for (const event of dead) await store.replay(event.id);
    if (dead.length > 0) sync?.wake();
    const left = dead.length === BULK_REPLAY_LIMIT ? (await store.listEvents({ status: 'dead', limit: 1 })).length > 0 : false;
    return reply.code(202).send({ replayed: dead.length, more: left });
  });

  const replaySchema = {
    ...admin,
    operationId: 'replayEvent',
    summary: 'Put a dead (or done) event back to be applied',
    description: 'Marks every group and membership the event changed to be synced again.',
    params: IdParams,
    response: {
      202: jsonAnswer(Answers.Replayed, 'The event is pending again'),
      ...problemResponses(...ADMIN_PROBLEMS, 'invalid-request', 'unknown-event'),
    },
  };
  app.post('/admin/events/:id/replay', { schema: replaySchema }, async (request, reply) => {
    const { id } = request.params;
    if (!(await store.replay(id))) throw new HttpProblem('unknown-event', `no event with id ${id}`);
    sync?.wake();
    return reply.code(202).send({ id, status: 'pending' });
  });

  const listGroupsSchema = {
    ...admin,
    operationId: 'listGroups',
    summary: 'The OG groups the service knows, with their sync state, paged',
    querystring: GroupsQuery,
    response: { 200: jsonAnswer(Answers.GroupList, 'A page of groups'), ...problemResponses(...ADMIN_PROBLEMS, 'invalid-request') },
  };
  app.get('/admin/groups', { schema: listGroupsSchema }, async (request) => {
    const { query } = request;
    const limit = query.limit ?? 50;
    const groups = await store.listGroups({ state: query.state, q: query.q, limit, after: query.cursor === undefined ? undefined : Number(query.cursor) });
    return groups.length === limit ? { groups, next_cursor: String(groups.at(-1)!.ogId) } : { groups };
  });

  const listMembersSchema = {
    ...admin,
    operationId: 'listMembers',
    summary: "A group's members and their sync state, paged",
    params: GroupParams,
    querystring: MembersQuery,
    response: {
      200: jsonAnswer(Answers.MemberList, 'A page of members'),
      ...problemResponses(...ADMIN_PROBLEMS, 'invalid-request', 'unknown-group'),
    },
  };
  app.get('/admin/groups/:ogId/members', { schema: listMembersSchema }, async (request) => {
    const { params: { ogId }, query } = request;
    if (!(await store.group(ogId))) throw unknownGroup(ogId);
    const limit = query.limit ?? 100;
    const members = await store.listMembers(ogId, { state: query.state, limit, after: query.cursor === undefined ? undefined : Number(query.cursor) });
    return members.length === limit ? { members, next_cursor: String(members.at(-1)!.uid) } : { members };
  });

  const groupSchema = {
    ...admin,
    operationId: 'getGroup',
    summary: 'What the service knows of an OG group',
    description: 'Its ledger record (desired state, CiviCRM ids, sync state) and every one of its members.',
    params: GroupParams,
    response: {
      200: jsonAnswer(Answers.GroupState, 'The group and its members'),
      ...problemResponses(...ADMIN_PROBLEMS, 'invalid-request', 'unknown-group'),
    },
  };
  app.get('/admin/groups/:ogId', { schema: groupSchema }, async (request) => {
    const { ogId } = request.params;
    const group = await store.group(ogId);
    if (!group) throw unknownGroup(ogId);
    const members = await store.members(ogId);
    return { group, members };
  });

  const reconcileSchema = {
    ...admin,
    operationId: 'reconcileGroup',
    summary: 'Make CiviCRM match what the service knows, now',
    description:
      "Reads the group's real state in CiviCRM (every GroupContact row and the ACL chain), repairs the groups and ACL " +
      'records, removes contacts OG does not have in the groups, and marks every membership to be written again. OG is ' +
      'the source of truth. The report says what was found. With `dryRun=true` nothing is changed: the answer is 200 ' +
      'with the differences a reconcile would repair.',
    params: GroupParams,
    querystring: ReconcileQuery,
    response: {
      200: jsonAnswer(Answers.Reconciling, 'Dry run: the differences, nothing changed'),
      202: jsonAnswer(Answers.Reconciling, 'Reconciled; the members are being written'),
      ...problemResponses(...ADMIN_PROBLEMS, 'invalid-request', 'unknown-group', 'group-busy', 'civicrm-unavailable'),
    },
  };
  app.post('/admin/groups/:ogId/reconcile', { schema: reconcileSchema }, async (request, reply) => {
    const { ogId } = request.params;
    const { dryRun = false } = request.query;
    if (!sync) {
      if (dryRun) throw new HttpProblem('civicrm-unavailable', 'a dry run needs CiviCRM, and this process does not sync');
      if ((await store.markForReconcile(ogId)) === 0) throw unknownGroup(ogId);
      return reply.code(202).send({ ogId, status: 'pending' });
    }
    let report: Awaited<ReturnType<SyncControl['reconcileGroup']>>;
    try {
      report = await sync.reconcileGroup(ogId, { dryRun });
    } catch (error) {
      throw new HttpProblem('civicrm-unavailable', `cannot read CiviCRM: ${(error as Error).message}`);
    }
    if (report === undefined) throw unknownGroup(ogId);
    if (report === 'busy') throw new HttpProblem('group-busy', `OG group ${ogId} is being synced right now; try again shortly`);
    // A dry run changed nothing: it is an answer, not work under way.
    if (dryRun) return reply.code(200).send({ ogId, status: 'dry-run', report });
    return reply.code(202).send({ ogId, status: 'pending', report });
  });
};

function unknownGroup(ogId: number): HttpProblem {
  return new HttpProblem('unknown-group', `no OG group ${ogId} is known`);
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}
