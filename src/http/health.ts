// Liveness, readiness, metrics and the API document: the routes a platform polls.
import { readFile } from 'node:fs/promises';
import type { FastifyPluginAsync } from 'fastify';
import type { StoreAvailability } from '../ledger/availability.js';
import type { EventLog, OperatorQueries } from '../ledger/store.js';
import type { Metrics } from '../metrics.js';
import type { SyncControl } from './admin.js';
import type { Intake } from './intake.js';

export interface HealthOptions {
  store: Pick<EventLog, 'checkWritable'> & Pick<OperatorQueries, 'workCounts'>;
  availability: StoreAvailability;
  intake: Intake;
  metrics: Metrics;
  openapiPath: string;
  sync?: SyncControl;
}

export const healthRoutes: FastifyPluginAsync<HealthOptions> = async (app, options) => {
  const { store, availability, intake, metrics, sync } = options;

  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_request, reply) => {
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
    return { status: 'ready', store: 'writable', civicrm };
  });

  app.get('/metrics', async (_request, reply) => {
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

  let openapi: Buffer | undefined;
  app.get('/openapi.yaml', async (_request, reply) => {
    openapi ??= await readFile(options.openapiPath);
    return reply.type('application/yaml').send(openapi);
  });
};
