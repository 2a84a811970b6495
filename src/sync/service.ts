// The sync side of the service assembled: CiviCRM client, reconciler and worker, plus
// the control surface the operator API and health routes use.
import type { Logger } from 'pino';
import { CiviClient } from '../civicrm/client.js';
import { CiviHealth } from '../civicrm/health.js';
import type { Config } from '../config.js';
import type { SyncControl } from '../http/admin.js';
import type { StoreAvailability } from '../ledger/availability.js';
import type { Store } from '../ledger/store.js';
import type { Metrics } from '../metrics.js';
import { reconcileGroup } from './audit.js';
import { Reconciler } from './reconciler.js';
import { countDrift, Resync } from './resync.js';
import { Worker, type WorkerOptions } from './worker.js';

const VERSION_TTL_MS = 10 * 60_000;

export type SyncConfig = Pick<Config, 'civicrm' | 'onGroupDelete' | 'createMissingContacts' | 'syncConcurrency' | 'resyncIntervalMs'>;

export interface SyncService {
  client: CiviClient;
  worker: Worker;
  resync: Resync;
  reconciler: Reconciler;
  health: CiviHealth;
  control: SyncControl;
  /** Reads CiviCRM's version and logs it; a failure is logged, not thrown (CiviCRM may be down). */
  announce(): Promise<void>;
  close(): Promise<void>;
}

export function createSync(
  config: SyncConfig,
  store: Store,
  options: { metrics?: Metrics; logger?: Logger; availability?: StoreAvailability; worker?: Partial<WorkerOptions> } = {},
): SyncService {
  const { metrics, logger } = options;
  const health = new CiviHealth();
  const client: CiviClient = new CiviClient({
    ...config.civicrm,
    onCall: (entity, action, outcome, error) => {
      metrics?.civiCalls.inc({ entity, action, outcome });
      if (error?.kind === 'transport') {
        health.unreachable(error.message);
        metrics?.civiUp.set(0);
        // After an outage the server may have been upgraded: read the version again.
        client.forgetVersion();
      } else if (error?.kind === 'auth') {
        // It answers, but not to us: for the operator that is as good as down.
        health.unreachable(error.message);
        metrics?.civiUp.set(0);
      } else {
        health.answered();
        metrics?.civiUp.set(1);
      }
    },
    onRequest: (seconds) => metrics?.civiRequestLatency.observe(seconds),
  });
  // Re-read now and then: an upgrade across 5.64 changes the ACL object_table.
  let versionReadAt = 0;
  const readVersion = async () => {
    if (Date.now() - versionReadAt > VERSION_TTL_MS) {
      client.forgetVersion();
      versionReadAt = Date.now();
    }
    health.version = await client.version();
    return health.version;
  };
  const reconciler = new Reconciler({
    civi: client,
    version: readVersion,
    onGroupDelete: config.onGroupDelete,
    createMissingContacts: config.createMissingContacts,
    logger,
    onContacts: (links) => store.saveContacts(links),
  });
  const worker = new Worker({
    store,
    reconciler,
    concurrency: config.syncConcurrency,
    logger,
    availability: options.availability,
    ...options.worker,
  });
  const control: SyncControl = {
    wake: () => worker.wake(),
    civicrm: () => health.view(),
    async reconcileGroup(ogId, { dryRun = false } = {}) {
      const report = await reconcileGroup(store, reconciler, ogId, dryRun);
      if (dryRun) return report;
      if (report && report !== 'busy') countDrift(metrics, report);
      worker.wake();
      return report;
    },
  };
  const resync = new Resync({
    store,
    reconciler,
    intervalMs: config.resyncIntervalMs,
    metrics,
    logger,
    onQueued: () => worker.wake(),
  });
  return {
    client,
    worker,
    resync,
    reconciler,
    health,
    control,
    async announce() {
      try {
        await readVersion();
        logger?.info({ civicrmVersion: health.version }, 'CiviCRM answered');
      } catch (error) {
        logger?.warn({ error: (error as Error).message }, 'CiviCRM did not answer yet; syncing will retry');
      }
    },
    async close() {
      await resync.stop();
      await worker.stop();
      await client.close();
    },
  };
}
