// Start-up of the long-running service: configuration, store, HTTP, reconciler, and an
// orderly shutdown that never drops an acknowledged event.
import closeWithGrace from 'close-with-grace';
import { buildApp } from './app.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { StoreAvailability } from './ledger/availability.js';
import { openStore } from './ledger/index.js';
import { Retention } from './ledger/retention.js';
import type { Store } from './ledger/store.js';
import { createLogger, drained } from './logger.js';
import { createMetrics } from './metrics.js';
import { createSync } from './sync/service.js';
import { VERSION } from './version.js';

/** Prints one line naming the bad variable and exits non-zero; returns the config otherwise. */
export function configOrExit<T = Config>(load: () => T = loadConfig as () => T): T {
  try {
    return load();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`og-civicrm-sync: configuration error: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
}

/** Opens and migrates the store, or prints one line naming DATABASE_URL and exits non-zero. */
export async function storeOrExit(database: Config['database'], onMigrated?: (applied: number[]) => void): Promise<Store> {
  let store: Store | undefined;
  try {
    store = await openStore(database);
    const applied = await store.migrate();
    if (applied.length > 0) onMigrated?.(applied);
    return store;
  } catch (error) {
    await store?.close().catch(() => undefined);
    process.stderr.write(`og-civicrm-sync: cannot open the store of DATABASE_URL: ${(error as Error).message}\n`);
    process.exit(1);
  }
}

/**
 * Serves until a signal stops it. With `worker: false` events are taken and stored but not
 * synced: the bench measures the intake alone so.
 */
export async function serve({ worker = true }: { worker?: boolean } = {}): Promise<void> {
  const config = configOrExit();
  const logger = createLogger(config.logLevel);
  const store = await storeOrExit(config.database, (applied) => logger.info({ applied }, 'store schema migrated'));
  const metrics = createMetrics({ defaultMetrics: true });
  const storeAvailability = new StoreAvailability(logger, { onFailure: () => metrics.storeErrors.inc() });
  const sync = createSync(config, store, { metrics, logger, availability: storeAvailability });
  const retention = new Retention({ store, retentionMs: config.eventRetentionMs, metrics, logger });
  const { fastify, intake } = await buildApp({
    config,
    store,
    metrics,
    logger,
    storeAvailability,
    sync: sync.control,
    onAccepted: () => sync.worker.wake(),
  });

  closeWithGrace({ delay: 10_000, logger }, async ({ signal, err }) => {
    if (err) logger.error({ err }, 'stopping after an unexpected error');
    else logger.info({ signal }, 'stopping');
    // Fastify stops listening and answers 503 to new requests at once; the requests already in
    // flight finish and are stored. Closing the intake first would answer those 503 too.
    await fastify.close();
    intake.close();
    await retention.stop();
    await sync.close();
    await store.close();
    // Lines a slow reader has not taken yet, "stopping" among them, would go with the process.
    await drained(process.stdout, 2_000);
  });

  try {
    await fastify.listen({ port: config.port, host: config.host });
  } catch (error) {
    process.stderr.write(`og-civicrm-sync: cannot listen on ${config.host}:${config.port}: ${(error as Error).message}\n`);
    process.exit(1);
  }
  logger.info({ version: VERSION, store: config.database.kind }, 'og-civicrm-sync serving');
  if (worker) sync.worker.start();
  sync.resync.start();
  retention.start();
  void sync.announce();
}
