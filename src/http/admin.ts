// The operator API under /admin, behind a bearer token. Without ADMIN_TOKEN it does not exist.
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { Type } from 'typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyError, FastifyPluginAsync } from 'fastify';
import { parseManualEvent } from '../events/native.js';
import type { StoreAvailability } from '../ledger/availability.js';
import type { EventLog, LedgerReads, OperatorQueries, WorkQueue } from '../ledger/store.js';
import type { Activity } from '../activity.js';
import type { Intake } from './intake.js';
import { keepRawJsonBodies, parseJson, rawBody } from './json-body.js';
import { HttpProblem, sendProblem, toProblem } from './problems.js';

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
  status: Type.Optional(Type.Enum(['dead', 'pending', 'done'])),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
  cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
});

const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 255 }) });
const SyncStates = Type.Enum(['clean', 'dirty', 'dead']);
const GroupsQuery = Type.Object({
  state: Type.Optional(SyncStates),
  q: Type.Optional(Type.String({ maxLength: 255 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 })),
  cursor: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,15}$' })),
});
const MembersQuery = Type.Object({
  state: Type.Optional(SyncStates),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
  cursor: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,15}$' })),
});
/** Dead events replayed by one bulk replay at most; the answer says whether more are left. */
const BULK_REPLAY_LIMIT = 1000;
const GroupParams = Type.Object({ ogId: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }) });
const ReconcileQuery = Type.Object({ dryRun: Type.Optional(Type.Boolean({ default: false })) });

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

  app.get('/admin/status', async () => {
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

  app.get('/admin/activity', async () => ({ minutes: activity.view() }));

  app.post('/admin/events', async (request, reply) => {
    const parsed = parseManualEvent(parseJson(rawBody(request)));
    if (!parsed.ok) throw new HttpProblem('invalid-event', parsed.detail);
    const receivedAt = Date.now();
    const { change, occurredAt, id } = parsed.value;
    const event = { id: id ?? randomUUID(), source: 'og' as const, occurredAt: occurredAt ?? receivedAt, receivedAt, change };
    return reply.code(202).send(await intake.accept(event));
  });

  app.get('/admin/events', { schema: { querystring: EventsQuery } }, async (request) => {
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

  app.post('/admin/events/replay-dead', async (_request, reply) => {
    const dead = await store.listEvents({ status: 'dead', limit: BULK_REPLAY_LIMIT });
    for (const event of dead) await store.replay(event.id);
    if (dead.length > 0) sync?.wake();
    const left = dead.length === BULK_REPLAY_LIMIT ? (await store.listEvents({ status: 'dead', limit: 1 })).length > 0 : false;
    return reply.code(202).send({ replayed: dead.length, more: left });
  });

  app.post('/admin/events/:id/replay', { schema: { params: IdParams } }, async (request, reply) => {
    const { id } = request.params;
    if (!(await store.replay(id))) throw new HttpProblem('unknown-event', `no event with id ${id}`);
    sync?.wake();
    return reply.code(202).send({ id, status: 'pending' });
  });

  app.get('/admin/groups', { schema: { querystring: GroupsQuery } }, async (request) => {
    const { query } = request;
    const limit = query.limit ?? 50;
    const groups = await store.listGroups({ state: query.state, q: query.q, limit, after: query.cursor === undefined ? undefined : Number(query.cursor) });
    return groups.length === limit ? { groups, next_cursor: String(groups.at(-1)!.ogId) } : { groups };
  });

  app.get('/admin/groups/:ogId/members', { schema: { params: GroupParams, querystring: MembersQuery } }, async (request) => {
    const { params: { ogId }, query } = request;
    if (!(await store.group(ogId))) throw unknownGroup(ogId);
    const limit = query.limit ?? 100;
    const members = await store.listMembers(ogId, { state: query.state, limit, after: query.cursor === undefined ? undefined : Number(query.cursor) });
    return members.length === limit ? { members, next_cursor: String(members.at(-1)!.uid) } : { members };
  });

  app.get('/admin/groups/:ogId', { schema: { params: GroupParams } }, async (request) => {
    const { ogId } = request.params;
    const group = await store.group(ogId);
    if (!group) throw unknownGroup(ogId);
    const members = await store.members(ogId);
    return { group, members };
  });

  app.post('/admin/groups/:ogId/reconcile', { schema: { params: GroupParams, querystring: ReconcileQuery } }, async (request, reply) => {
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
