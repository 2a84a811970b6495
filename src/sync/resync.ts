// The periodic resync: every OG group is re-observed in CiviCRM once per RESYNC_INTERVAL, one at
// a time and spread evenly over it, and what drifted is repaired. As a controller resyncs on a
// period, this finds drift made by hand in CiviCRM even when nothing happens to the group in OG.
// Replicas share the work through the store: each group is taken by one of them per interval.
import type { Logger } from 'pino';
import type { OperatorQueries, SyncStore } from '../ledger/store.js';
import type { Metrics } from '../metrics.js';
import { reconcileGroup, type ReconcileReport } from './audit.js';
import type { Reconciler } from './reconciler.js';

export interface ResyncOptions {
  store: SyncStore & Pick<OperatorQueries, 'workCounts'>;
  reconciler: Reconciler;
  intervalMs: number;
  metrics?: Metrics;
  logger?: Logger;
  /** Told after a group's repairs were queued, to wake the worker. */
  onQueued?: () => void;
}

/** The shortest wait between two groups, however many there are. */
const MIN_SPACING_MS = 1_000;

export class Resync {
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<unknown> | undefined;
  #stopped = true;

  constructor(private readonly options: ResyncOptions) {}

  start(): void {
    if (this.options.intervalMs === 0 || !this.#stopped) return;
    this.#stopped = false;
    this.#schedule(MIN_SPACING_MS);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
  }

  /**
   * Re-observes the group due first, if any is due; what was found. `now`, by default the store's
   * clock: the resync times one replica writes are read by all.
   */
  async runOnce(now?: number): Promise<ReconcileReport | 'busy' | undefined> {
    const { store, reconciler, intervalMs, metrics, logger } = this.options;
    const at = now ?? (await store.clock());
    const ogId = await store.claimResync(at, at - intervalMs);
    if (ogId === undefined) return undefined;
    try {
      const report = await reconcileGroup(store, reconciler, ogId, false);
      if (report === 'busy') {
        metrics?.resyncs.inc({ outcome: 'busy' });
        return report;
      }
      metrics?.resyncs.inc({ outcome: 'done' });
      if (report) {
        countDrift(metrics, report);
        if (driftOf(report).some(([, n]) => n > 0)) logger?.info({ ogId, drift: Object.fromEntries(driftOf(report)) }, 'resync repaired drift');
        this.options.onQueued?.();
      }
      return report;
    } catch (error) {
      metrics?.resyncs.inc({ outcome: 'failed' });
      logger?.warn({ ogId, error: (error as Error).message }, 'resync of OG group failed; it is tried again next interval');
      return undefined;
    }
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#running = this.#tick().finally(() => (this.#running = undefined));
    }, delayMs);
    this.#timer.unref();
  }

  async #tick(): Promise<void> {
    let groups = 1;
    try {
      await this.runOnce();
      groups = (await this.options.store.workCounts()).groups.total;
    } catch (error) {
      this.options.logger?.debug({ error: (error as Error).message }, 'resync could not ask the store; trying again later');
    }
    this.#schedule(resyncSpacing(this.options.intervalMs, groups));
  }
}

/** The wait between two groups that spreads `groups` evenly over the interval. */
export function resyncSpacing(intervalMs: number, groups: number): number {
  return Math.min(intervalMs, Math.max(MIN_SPACING_MS, Math.floor(intervalMs / Math.max(1, groups))));
}

type DriftKind = 'group' | 'member_row' | 'extra_contact';

function driftOf(report: ReconcileReport): Array<[DriftKind, number]> {
  return [
    ['group', report.groupChanges.length],
    ['member_row', report.missing.length + report.wrongStatus.length],
    ['extra_contact', report.extra.length],
  ];
}

/** Counts what a reconcile found and repaired (member rows: queued for the worker). */
export function countDrift(metrics: Metrics | undefined, report: ReconcileReport): void {
  for (const [what, n] of driftOf(report)) {
    if (n === 0) continue;
    metrics?.driftFound.inc({ what }, n);
    if (!report.dryRun) metrics?.driftRepaired.inc({ what }, n);
  }
}
