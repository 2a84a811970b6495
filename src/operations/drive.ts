// Runs the sync until no work is left, reporting progress, and tallies what became of it.
import type { CiviHealthView } from '../civicrm/health.js';
import type { OperatorQueries } from '../ledger/store.js';
import type { SyncOutcome } from '../sync/worker.js';
import { describeProgress, type ProgressLine, type ProgressSample } from './progress.js';

export class OutcomeTally {
  created = 0;
  updated = 0;
  unchanged = 0;
  groupsSynced = 0;
  /** Reason → how many items died of it. */
  readonly dead = new Map<string, number>();

  readonly record = (outcome: SyncOutcome): void => {
    if (outcome.result === 'dead') this.dead.set(outcome.error ?? 'unknown', (this.dead.get(outcome.error ?? 'unknown') ?? 0) + 1);
    else if (outcome.kind === 'group') this.groupsSynced += outcome.result === 'synced' ? 1 : 0;
    else if (outcome.result !== 'retry') this[outcome.result]++;
  };

  get deadCount(): number {
    return [...this.dead.values()].reduce((a, b) => a + b, 0);
  }

  lines(): string[] {
    const out = [
      `memberships: ${this.created} created, ${this.updated} updated, ${this.unchanged} unchanged, ${this.deadCount} dead`,
      `groups synced: ${this.groupsSynced}`,
    ];
    for (const [reason, count] of this.dead) out.push(`  dead ×${count}: ${reason}`);
    return out;
  }
}

export interface DriveOptions {
  /** Wakes the worker, so it looks for work now. */
  wake: () => void;
  /** Epoch ms after which the run stops with work left; none: it runs until done. */
  deadlineAt?: number;
  /** What the sync last heard from CiviCRM. */
  civicrm?: () => CiviHealthView;
  /** Where notices go (stderr). */
  say?: (line: string) => void;
  tickMs?: number;
}

/** How often a run waiting on an unreachable CiviCRM says so. */
export const OUTAGE_NOTICE_MS = 30_000;

/**
 * Resolves `done` when nothing is dirty any more (dead items are done with, until replayed), or
 * `deadline` when the deadline passed first. While CiviCRM is unreachable it says so now and then
 * instead of waiting silently.
 */
export async function driveToCompletion(store: Pick<OperatorQueries, 'workCounts'>, progress: ProgressLine, options: DriveOptions): Promise<'done' | 'deadline'> {
  const { wake, deadlineAt, civicrm, say = () => undefined, tickMs = 250 } = options;
  const sample = async (): Promise<ProgressSample> => ({ at: Date.now(), work: await store.workCounts() });
  const first = await sample();
  let noticedAt = -Infinity;
  for (;;) {
    wake();
    const latest = await sample();
    if (latest.work.groups.dirty === 0 && latest.work.members.dirty === 0) {
      progress.done(describeProgress(first, latest));
      return 'done';
    }
    if (deadlineAt !== undefined && latest.at >= deadlineAt) {
      progress.done(describeProgress(first, latest));
      return 'deadline';
    }
    const health = civicrm?.();
    if (health?.reachable === false && latest.at - noticedAt >= OUTAGE_NOTICE_MS) {
      noticedAt = latest.at;
      say(`CiviCRM is unreachable (${health.lastError ?? 'no answer'}); waiting for it, work is kept`);
    }
    progress.update(describeProgress(first, latest));
    await new Promise((resolve) => setTimeout(resolve, tickMs));
  }
}
