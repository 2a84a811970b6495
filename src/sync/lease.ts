// A lease held while working on one OG group: kept alive by renewal, and given up the moment a
// renewal fails or the store refuses a result under it. Whoever holds one calls CiviCRM only
// through `fencedClient`, which stops before the next call once the lease is lost, so two
// holders are never inside one group's plan at once.
import type { CiviClient } from '../civicrm/client.js';
import { LeaseLost, type Lease, type WorkQueue } from '../ledger/store.js';

/** What the sync needs of a CiviCRM client. */
export type CiviApi = Pick<CiviClient, 'call' | 'batch' | 'getAll' | 'version'>;

export class HeldLease {
  #lost = false;
  /** Until when, on this process's monotonic clock, the lease surely holds in the store. */
  #deadline: number;
  private readonly now: () => number;

  /**
   * `leaseMs`: the length the lease was taken for. `askedAt`: when the claim was sent, on `now`, a
   * monotonic clock in milliseconds (the wall clock could be stepped, and the store measures the
   * lease on its own): the lease runs from when the store took the claim, however long its answer
   * (a durable commit) took to come back.
   */
  constructor(
    readonly lease: Lease,
    private readonly store: Pick<WorkQueue, 'renewLease'>,
    private readonly leaseMs: number,
    { now = () => performance.now(), askedAt }: { now?: () => number; askedAt?: number } = {},
  ) {
    this.now = now;
    this.#deadline = this.#deadlineFrom(askedAt ?? now());
  }

  /** Renews the lease every third of its length until the returned function is called. */
  keepAlive(): () => void {
    const timer = setInterval(() => {
      const sentAt = this.now();
      this.store.renewLease(this.lease, this.leaseMs).then(
        (renewed) => {
          if (!renewed) this.#lost = true;
          else this.#deadline = Math.max(this.#deadline, this.#deadlineFrom(sentAt));
        },
        // Not knowing whether the lease still holds is losing it: the store's clock may run it out.
        () => (this.#lost = true),
      );
    }, this.leaseMs / 3);
    return () => clearInterval(timer);
  }

  /**
   * Lost once a renewal was refused or failed, or once the lease has run out with no renewal
   * answered: a renewal that hangs (a half-open connection to the store) must not let the holder
   * go on while another replica takes the group.
   */
  get lost(): boolean {
    if (!this.#lost && this.now() >= this.#deadline) this.#lost = true;
    return this.#lost;
  }

  /** Throws LeaseLost once the lease is lost. */
  assertHeld(): void {
    if (this.lost) throw new LeaseLost(this.lease);
  }

  /**
   * A lease taken or renewed after `sentAt` runs until at least `sentAt + leaseMs`; a tenth of it
   * is kept back for the store's clock running faster than this one, and for the call this
   * holder is about to send.
   */
  #deadlineFrom(sentAt: number): number {
    return sentAt + this.leaseMs * 0.9;
  }
}

/** A client that refuses to send anything once the lease is lost. */
export function fencedClient(civi: CiviApi, held: HeldLease): CiviApi {
  return {
    call(entity, action, params) {
      held.assertHeld();
      return civi.call(entity, action, params);
    },
    batch(calls) {
      held.assertHeld();
      return civi.batch(calls);
    },
    getAll(entity, params, pageSize) {
      held.assertHeld();
      return civi.getAll(entity, params, pageSize);
    },
    version: () => civi.version(),
  };
}
