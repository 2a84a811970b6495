// The store's clock, as this process follows it. The times a replica writes for all to read (when
// a retry is due) must mean the same to every replica: one whose clock runs ahead would retry at
// once what another set to back off for minutes, hammering CiviCRM through an outage and spending
// a transient error's few attempts in a moment. So they are read on the store's clock: the host's
// plus an offset learned from the store now and then.
import type { WorkQueue } from '../ledger/store.js';

/** How often the offset is learned again: a host's clock drifts slowly, and NTP steps it rarely. */
const REFRESH_MS = 60_000;

export class StoreClock {
  #offset = 0;
  #learnedAt: number | undefined;

  constructor(
    private readonly store: Pick<WorkQueue, 'clock'>,
    /** This host's wall clock; a monotonic one decides when to learn the offset again. */
    private readonly wall: () => number = Date.now,
  ) {}

  /** The store's time now, by this host's clock and the last offset learned. */
  readonly now = (): number => this.wall() + this.#offset;

  /**
   * Learns the offset again when it is due (at first, then every minute). Read halfway through
   * the store's answer: off by at most half its round trip.
   */
  async follow(): Promise<void> {
    if (this.#learnedAt !== undefined && performance.now() - this.#learnedAt < REFRESH_MS) return;
    const sent = this.wall();
    const storeNow = await this.store.clock();
    // Whole milliseconds: the times are stored as integers.
    this.#offset = Math.round(storeNow - (sent + this.wall()) / 2);
    this.#learnedAt = performance.now();
  }
}
