// Liveness, readiness, metrics and the API document: the routes a platform polls.
import { readFile } from 'node:fs/promises';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyPluginAsync } from 'fastify';
import { Type } from 'typebox';
import type { StoreAvailability } from '../ledger/availability.js';
import type { EventLog, OperatorQueries } from '../ledger/store.js';
import type { Metrics } from '../metrics.js';
import type { SyncControl } from './admin.js';
import type { Intake } from './intake.js';
import { problemResponses } from './problem-types.js';
import { jsonAnswer, Liveness, Readiness } from './schemas.js';

export interface HealthOptions {
  store: Pick<EventLog, 'checkWritable'> & Pick<OperatorQueries, 'workCounts'>;
  availability: StoreAvailability;
  intake: Intake;
  metrics: Metrics;
  openapiPath: string;
  sync?: SyncControl;
}

const health = { tags: ['health'], security: [] };
const text = (mediaType: string, description: string) => ({ description, content: { [mediaType]: { schema: Type.String() } } });

export const healthRoutes: FastifyPluginAsync<HealthOptions> = async (plain, options) => {
  const app = plain.withTypeProvider<TypeBoxTypeProvider>();
  const { store, availability, intake, metrics, sync } = options;

  app.get(
    '/healthz',
    {
      schema: {
        ...health,
        operationId: 'getHealth',
        summary: 'Liveness',
        description: 'Answers 200 while the process serves.',
        response: { 200: jsonAnswer(Liveness, 'Alive'), ...problemResponses() },
      },
    },
    async () => ({ status: 'ok' as const }),
  );

  const readyzSchema = {
    ...health,
    operationId: 'getReadiness',
    summary: 'Readiness',
    description:
      'Answers 200 when the store takes writes, 503 when it does not or while shutting down. The body says whether CiviCRM answered lately.',
    response: {
      ...problemResponses(),
      200: jsonAnswer(Readiness, 'Ready to accept events'),
      503: jsonAnswer(Readiness, 'Not ready: the store cannot take writes, or the service is shutting down'),
    },
  };
  app.get('/readyz', { schema: readyzSchema }, async (_request, reply) => {
    const civicrm = sync?.civicrm() ?? null;
    if (!intake.accepting) return reply.code(503).send({ status: 'shutting-down', store: 'unknown', civicrm });
    try {
      await store.checkWritable();
      availability.succeeded();
    } catch (error) {
      // Unauthenticated: the driver's message goes to the log and /admin/status, not here.
      availability.failed(error);
      return reply.code(503).send({ status: 'unavailable', store: 'not writable', civicrm });
    }
    return { status: 'ready' as const, store: 'writable', civicrm };
  });

  const metricsSchema = {
    ...health,
    operationId: 'getMetrics',
    summary: 'Prometheus metrics',
    description: 'Metrics in the Prometheus text exposition format (`og_sync_*`).',
    response: { 200: text('text/plain', 'The metrics'), ...problemResponses() },
  };
  app.get('/metrics', { schema: metricsSchema }, async (_request, reply) => {
    try {
      const work = await store.workCounts();
      availability.succeeded();
      metrics.dirtyItems.set({ kind: 'group' }, work.groups.dirty);
      metrics.dirtyItems.set({ kind: 'member' }, work.members.dirty);
      metrics.deadItems.set({ kind: 'group' }, work.groups.dead);
      metrics.deadItems.set({ kind: 'member' }, work.members.dead);
    } catch (error) {
      // A store outage is what the operator most needs to see: answer with the rest,
      // the backlog gauges keeping their last known values.
      availability.failed(error);
    }
    metrics.storeUp.set(availability.view().available ? 1 : 0);
    return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  let openapi: string | undefined;
  const openapiSchema = {
    ...health,
    operationId: 'getOpenApi',
    summary: 'This document',
    response: { 200: text('application/yaml', 'The OpenAPI 3.1 document of this API'), ...problemResponses() },
  };
  app.get('/openapi.yaml', { schema: openapiSchema }, async (_request, reply) => {
    openapi ??= await readFile(options.openapiPath, 'utf8');
    return reply.type('application/yaml').send(openapi);
  });
};
