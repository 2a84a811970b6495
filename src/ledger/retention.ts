// Bounded growth: settled events older than EVENT_RETENTION leave the event log, a small batch at a
// time so that accepts never wait long behind the deletes. Unsettled events (pending, retrying,
// dead) stay whatever their age, until they settle. The ledger itself (the desired state) is
// never pruned: it is what the events added up to.
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.js';
import type { EventLog } from './store.js';

export interface RetentionOptions {
  store: Pick<EventLog, 'pruneEvents'>;
  retentionMs: number;
  metrics?: Metrics;
  logger?: Logger;
  /** How often to look for events to prune. */
  everyMs?: number;
  /** Events deleted per transaction, and transactions per look. */
  batch?: number;
  maxBatches?: number;
}

export class Retention {
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<unknown> | undefined;

  constructor(private readonly options: RetentionOptions) {}

  start(): void {
    if (this.options.retentionMs === 0 || this.#timer) return;
    const tick = () => {
      this.#running = this.runOnce()
        .catch((error: unknown) => this.options.logger?.debug({ error: (error as Error).message }, 'event pruning failed; trying again later'))
        .finally(() => (this.#running = undefined));
    };
    this.#timer = setInterval(tick, this.options.everyMs ?? 60_000);
    this.#timer.unref();
    tick();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  /** Prunes what is due now, in batches; returns how many events went. */
  async runOnce(now = Date.now()): Promise<number> {
    const { store, retentionMs, metrics, logger, batch = 500, maxBatches = 20 } = this.options;
    let pruned = 0;
    for (let i = 0; i < maxBatches; i++) {
      const n = await store.pruneEvents(now - retentionMs, batch);
      pruned += n;
      if (n < batch) break;
    }
    if (pruned > 0) {
      metrics?.eventsPruned.inc(pruned);
      logger?.info({ pruned }, 'settled events past EVENT_RETENTION pruned');
    }
    return pruned;
  }
}
