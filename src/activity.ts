// The last hour, minute by minute, for the console's chart: events accepted and the backlog.
// Kept in memory by each replica (Prometheus keeps the long history); a restart starts afresh.

export interface MinuteView {
  /** The minute's start, ISO 8601. */
  at: string;
  /** Events this replica accepted during the minute. */
  accepted: number;
  /** The largest backlog (dirty groups and members) seen during the minute; null when none was read. */
  backlog: number | null;
}

interface Minute {
  index: number;
  accepted: number;
  backlog: number | null;
}

const MINUTE_MS = 60_000;

export class Activity {
  readonly #minutes: Minute[];

  constructor(
    private readonly span = 60,
    private readonly now: () => number = Date.now,
  ) {
    this.#minutes = Array.from({ length: span }, () => ({ index: -1, accepted: 0, backlog: null }));
  }

  accepted(): void {
    this.#current().accepted++;
  }

  backlog(size: number): void {
    const minute = this.#current();
    minute.backlog = Math.max(minute.backlog ?? 0, size);
  }

  /** The last `span` minutes, oldest first, the current one last. */
  view(): MinuteView[] {
    const current = Math.floor(this.now() / MINUTE_MS);
    return Array.from({ length: this.span }, (_, i) => {
      const index = current - this.span + 1 + i;
      const minute = this.#minutes[index % this.span]!;
      const fresh = minute.index === index;
      return {
        at: new Date(index * MINUTE_MS).toISOString(),
        accepted: fresh ? minute.accepted : 0,
        backlog: fresh ? minute.backlog : null,
      };
    });
  }

  #current(): Minute {
    const index = Math.floor(this.now() / MINUTE_MS);
    const minute = this.#minutes[index % this.span]!;
    if (minute.index !== index) Object.assign(minute, { index, accepted: 0, backlog: null });
    return minute;
  }
}
