// The service's Prometheus metrics, one registry per instance so that several apps
// (tests, replicas in one process) never share counters.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export type Metrics = ReturnType<typeof createMetrics>;

export function createMetrics(options: { defaultMetrics?: boolean } = {}) {
  const registry = new Registry();
  if (options.defaultMetrics) collectDefaultMetrics({ register: registry, prefix: 'og_sync_' });
  const registers = [registry];
  return {
    registry,
    httpRequests: new Counter({
      name: 'og_sync_http_requests_total',
      help: 'HTTP requests answered, by route and status code',
      labelNames: ['method', 'route', 'status'] as const,
      registers,
    }),
    events: new Counter({
      name: 'og_sync_events_total',
      help: 'Webhook deliveries by outcome (accepted, duplicate, ignored, rejected) and rejection reason',
      labelNames: ['source', 'outcome', 'reason'] as const,
      registers,
    }),
    storeLatency: new Histogram({
      name: 'og_sync_store_seconds',
      help: 'Time spent in store operations',
      labelNames: ['operation'] as const,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    }),
    storeErrors: new Counter({
      name: 'og_sync_store_errors_total',
      help: 'Store calls that failed (connection lost, disk full, database down)',
      registers,
    }),
    storeUp: new Gauge({
      name: 'og_sync_store_up',
      help: '1 while the store takes reads and writes, 0 during an outage',
      registers,
    }),
    civiRequestLatency: new Histogram({
      name: 'og_sync_civicrm_request_seconds',
      help: 'Time of one HTTP request to CiviCRM (a multi-call counts once), failed ones included',
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    civiUp: new Gauge({
      name: 'og_sync_civicrm_up',
      help: '1 when CiviCRM answered the last call (the first is the version check at start-up), 0 when it was unreachable or refused the key',
      registers,
    }),
    civiCalls: new Counter({
      name: 'og_sync_civicrm_calls_total',
      help: 'CiviCRM API calls by entity, action and outcome (ok, error, retryable)',
      labelNames: ['entity', 'action', 'outcome'] as const,
      registers,
    }),
    dirtyItems: new Gauge({
      name: 'og_sync_dirty_items',
      help: 'Ledger items waiting to be synced to CiviCRM, by kind (group, member)',
      labelNames: ['kind'] as const,
      registers,
    }),
    eventsPruned: new Counter({
      name: 'og_sync_events_pruned_total',
      help: 'Settled events deleted from the event log after EVENT_RETENTION',
      registers,
    }),
    resyncs: new Counter({
      name: 'og_sync_resyncs_total',
      help: 'OG groups re-observed in CiviCRM by the periodic resync, by outcome (done, busy, failed)',
      labelNames: ['outcome'] as const,
      registers,
    }),
    driftFound: new Counter({
      name: 'og_sync_drift_found_total',
      help: 'Differences between CiviCRM and the ledger found by a resync or reconcile: group (groups, role, ACL), member_row (a member\'s row missing or wrong), extra_contact (a contact OG does not have in the group)',
      labelNames: ['what'] as const,
      registers,
    }),
    driftRepaired: new Counter({
      name: 'og_sync_drift_repaired_total',
      help: 'Differences repaired: group and extra_contact at once, member_row as queued for the worker to rewrite',
      labelNames: ['what'] as const,
      registers,
    }),
    deadItems: new Gauge({
      name: 'og_sync_dead_items',
      help: 'Ledger items that failed for good until replayed, by kind (group, member)',
      labelNames: ['kind'] as const,
      registers,
    }),
  };
}

/** Times an async store operation into the store latency histogram. */
export async function timed<T>(metrics: Metrics, operation: string, fn: () => Promise<T>): Promise<T> {
  const end = metrics.storeLatency.startTimer({ operation });
  try {
    return await fn();
  } finally {
    end();
  }
}
