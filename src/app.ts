// buildApp: the Fastify instance with every route, without listening (tests use inject).
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Bindings, ChildLoggerOptions, Logger } from 'pino';
import { Activity } from './activity.js';
import type { Config } from './config.js';
import type { OgEvent } from './events/model.js';
import { AccessLog } from './http/access-log.js';
import { adminRoutes, type SyncControl } from './http/admin.js';
import { consoleRoutes } from './http/console.js';
import { healthRoutes } from './http/health.js';
import { Intake } from './http/intake.js';
import { registerOpenApi } from './http/openapi.js';
import { clientErrorHandler, frameworkErrors, HttpProblem, installProblemHandlers } from './http/problems.js';
import { BODY_LIMIT } from './http/json-body.js';
import { webhookRoutes } from './http/webhooks.js';
import { StoreAvailability } from './ledger/availability.js';
import type { Store } from './ledger/store.js';
import { requestLogger } from './logger.js';
import type { Metrics } from './metrics.js';
import { VERSION } from './version.js';

export type AppConfig = Pick<Config, 'webhookSecrets' | 'adminToken' | 'ogGroupBundles' | 'drupalSignatures' | 'http' | 'database'>;

export interface AppDeps {
  config: AppConfig;
  store: Store;
  metrics: Metrics;
  /** Request logging goes here; none when absent. */
  logger?: FastifyBaseLogger;
  sync?: SyncControl;
  onAccepted?: (event: OgEvent) => void;
  maxInFlight?: number;
  /** Shared with the worker, so one outage is logged once; made here when absent. */
  storeAvailability?: StoreAvailability;
  /** The built console (index.html, app.js, style.css); default dist/console beside this file. */
  consoleDir?: string;
}

export interface App {
  fastify: FastifyInstance;
  intake: Intake;
}

const OPENAPI_PATH = fileURLToPath(new URL('../openapi.yaml', import.meta.url));
const CONSOLE_DIR = fileURLToPath(new URL('./console/', import.meta.url));
const BACKLOG_SAMPLE_MS = 60_000;

export async function buildApp(deps: AppDeps): Promise<App> {
  const { config, store, metrics, sync } = deps;
  const { requestTimeoutMs } = config.http;
  const fastify = Fastify({
    ...(deps.logger ? { loggerInstance: deps.logger, childLoggerFactory: requestLoggers() } : { logger: false }),
    bodyLimit: BODY_LIMIT,
    // Answered below as a problem document with Retry-After instead.
    return503OnClosing: false,
    // A sender gets this long for headers and body together; one that stalls is cut with 408.
    // Node checks the deadline on a timer, so the timer runs a few times per timeout. Idle
    // keep-alive sockets are closed by keepAliveTimeout; answers are small enough to never
    // wait on a slow reader, so there is no socket inactivity timeout.
    requestTimeout: requestTimeoutMs,
    http: {
      requestTimeout: requestTimeoutMs,
      headersTimeout: requestTimeoutMs,
      connectionsCheckingInterval: Math.min(1_000, Math.max(100, Math.floor(requestTimeoutMs / 4))),
    },
    clientErrorHandler,
    frameworkErrors,
    logController: new AccessLog(),
  });
  // Sockets past this many are closed as they connect, before they cost a parser or a request.
  fastify.server.maxConnections = config.http.maxConnections;
  const availability =
    deps.storeAvailability ?? new StoreAvailability(deps.logger, { onFailure: () => metrics.storeErrors.inc() });
  const activity = new Activity();
  const intake = new Intake({
    store,
    metrics,
    availability,
    maxInFlight: deps.maxInFlight,
    onAccepted: (event) => {
      activity.accepted();
      deps.onAccepted?.(event);
    },
  });

  installProblemHandlers(fastify);
  // The console's backlog line has a point every minute, whether or not anyone looked.
  const sampling = setInterval(() => {
    store.workCounts().then(
      (work) => {
        availability.succeeded();
        activity.backlog(work.groups.dirty + work.members.dirty);
      },
      (error: unknown) => availability.failed(error),
    );
  }, BACKLOG_SAMPLE_MS).unref();

  // While closing, requests already in flight finish; new ones on kept-alive connections are turned away.
  let closing = false;
  fastify.addHook('preClose', async () => {
    closing = true;
    clearInterval(sampling);
  });
  fastify.addHook('onRequest', async () => {
    if (closing) throw new HttpProblem('shutting-down', 'the service is shutting down; retry shortly');
  });
  fastify.addHook('onResponse', async (request, reply) => {
    metrics.httpRequests.inc({
      method: request.method,
      route: request.routeOptions.url ?? 'unknown',
      status: String(reply.statusCode),
    });
  });

  await registerOpenApi(fastify);
  await fastify.register(webhookRoutes, {
    secrets: config.webhookSecrets,
    groupBundles: config.ogGroupBundles,
    drupalSignatures: config.drupalSignatures,
    intake,
    metrics,
  });
  const startedAt = Date.now();
  await fastify.register(adminRoutes, {
    token: config.adminToken,
    store,
    availability,
    intake,
    version: VERSION,
    database: config.database.kind,
    startedAt,
    activity,
    sync,
  });
  await fastify.register(healthRoutes, { store, availability, intake, metrics, openapiPath: OPENAPI_PATH, sync });
  if (config.adminToken !== undefined) await fastify.register(consoleRoutes, { root: deps.consoleDir ?? CONSOLE_DIR });
  return { fastify, intake };
}

/**
 * Fastify's factory of each request's logger: a child of the request logger made once from the
 * logger Fastify hands it (Fastify's own, which adds its serializers to the service's).
 */
function requestLoggers() {
  const bases = new WeakMap<FastifyBaseLogger, Logger>();
  return (logger: FastifyBaseLogger, bindings: Bindings, options: ChildLoggerOptions): FastifyBaseLogger => {
    let base = bases.get(logger);
    if (!base) bases.set(logger, (base = requestLogger(logger as Logger)));
    return base.child(bindings, options);
  };
}
