// The store's clock, as this process follows it. The times a replica writes for all to read (when
// a retry is due) must mean the same to every replica: one whose clock runs ahead would retry at
// once what another set to back off for minutes, hammering CiviCRM through an outage and spending
// a transient error's few attempts in a moment. So they are read on the store's clock: its time
// as last learned, carried forward on this process's monotonic clock (which no NTP step moves),
// and learned again now and then.
import type { WorkQueue } from '../ledger/store.js';

/** How often the store's time is learned again: clocks drift apart slowly. */
const REFRESH_MS = 60_000;

export class StoreClock {
  /** The store's time, and the monotonic time it was read at; none before the first answer. */
  #learned: { storeAt: number; at: number } | undefined;
  /** The reading under way: lanes that ask at once share it. */
  #reading: Promise<void> | undefined;

  constructor(
    private readonly store: Pick<WorkQueue, 'clock'>,
    /** This host's wall clock: the time until the store's is learned. */
    private readonly wall: () => number = Date.now,
  ) {}

  /** The store's time now, in whole milliseconds. */
  readonly now = (): number => {
    const learned = this.#learned;
    return learned ? Math.round(learned.storeAt + performance.now() - learned.at) : this.wall();
  };

  /**
   * Learns the store's time again when that is due (at first, then every minute), as read
   * halfway through its answer: off by at most half the round trip.
   */
  follow(): Promise<void> {
    if (this.#learned && performance.now() - this.#learned.at < REFRESH_MS) return Promise.resolve();
    this.#reading ??= this.#read().finally(() => (this.#reading = undefined));
    return this.#reading;
  }

  async #read(): Promise<void> {
    const sent = performance.now();
    const storeAt = await this.store.clock();
    this.#learned = { storeAt, at: (sent + performance.now()) / 2 };
  }
}
