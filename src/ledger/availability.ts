// Whether the store takes reads and writes, as its callers find out. An outage shows in the log
// once when it starts, as a summary now and then while it lasts, and once when it ends, instead
// of one line (with a stack) per request and per worker poll.

export interface OutageLogger {
  error(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  info(fields: object, message: string): void;
}

export interface StoreAvailabilityView {
  available: boolean;
  /** When the current outage began. */
  since: string | null;
  /** The driver's last message; for the log and the operator API only. */
  lastError: string | null;
}

interface Outage {
  since: number;
  failures: number;
  summarizedAt: number;
  failuresSinceSummary: number;
  lastError: string;
}

export interface StoreAvailabilityOptions {
  /** How often an ongoing outage is summarized in the log, default 30 s. */
  summaryEveryMs?: number;
  now?: () => number;
  /** Called on every failure, for metrics. */
  onFailure?: () => void;
}

export class StoreAvailability {
  #outage: Outage | undefined;
  private readonly summaryEveryMs: number;
  private readonly now: () => number;
  private readonly onFailure: (() => void) | undefined;

  constructor(
    private readonly logger?: OutageLogger,
    options: StoreAvailabilityOptions = {},
  ) {
    this.summaryEveryMs = options.summaryEveryMs ?? 30_000;
    this.now = options.now ?? Date.now;
    this.onFailure = options.onFailure;
  }

  /** A store call failed. */
  failed(error: unknown): void {
    this.onFailure?.();
    const message = error instanceof Error ? error.message : String(error);
    const now = this.now();
    const outage = this.#outage;
    if (!outage) {
      this.#outage = { since: now, failures: 1, summarizedAt: now, failuresSinceSummary: 0, lastError: message };
      this.logger?.error({ error: message }, 'store unavailable');
      return;
    }
    outage.failures++;
    outage.failuresSinceSummary++;
    outage.lastError = message;
    if (now - outage.summarizedAt >= this.summaryEveryMs) {
      this.logger?.warn(
        { error: message, failures: outage.failuresSinceSummary, downForMs: now - outage.since },
        'store still unavailable',
      );
      outage.summarizedAt = now;
      outage.failuresSinceSummary = 0;
    }
  }

  /** A store call succeeded: any outage is over. */
  succeeded(): void {
    const outage = this.#outage;
    if (!outage) return;
    this.#outage = undefined;
    this.logger?.info({ failures: outage.failures, downForMs: this.now() - outage.since }, 'store available again');
  }

  view(): StoreAvailabilityView {
    const outage = this.#outage;
    return outage
      ? { available: false, since: new Date(outage.since).toISOString(), lastError: outage.lastError }
      : { available: true, since: null, lastError: null };
  }
}
