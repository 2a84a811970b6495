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

  constructor(
    readonly lease: Lease,
    private readonly store: Pick<WorkQueue, 'renewLease'>,
    private readonly leaseMs: number,
  ) {}

  /** Renews the lease every third of its length until the returned function is called. */
  keepAlive(): () => void {
    const timer = setInterval(() => {
      this.store.renewLease(this.lease, this.leaseMs).then(
        (renewed) => {
          if (!renewed) this.#lost = true;
        },
        // Not knowing whether the lease still holds is losing it: the store's clock may run it out.
        () => (this.#lost = true),
      );
    }, this.leaseMs / 3);
    return () => clearInterval(timer);
  }

  get lost(): boolean {
    return this.#lost;
  }

  /** Throws LeaseLost once a renewal failed. */
  assertHeld(): void {
    if (this.#lost) throw new LeaseLost(this.lease);
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
