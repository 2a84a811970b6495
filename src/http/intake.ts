// The one door every accepted event goes through: the store commits it, then 202 is sent.
import { Refused } from '../events/admission.js';
import type { OgEvent } from '../events/model.js';
import type { StoreAvailability } from '../ledger/availability.js';
import type { EventLog } from '../ledger/store.js';
import { timed, type Metrics } from '../metrics.js';
import { HttpProblem } from './problems.js';

export interface Accepted {
  id: string;
  status: 'accepted' | 'duplicate' | 'ignored';
}

export interface IntakeOptions {
  store: EventLog;
  metrics: Metrics;
  availability: StoreAvailability;
  /** Accepts in flight beyond which new ones are turned away with 429. */
  maxInFlight?: number;
  /** Told after each commit, to wake the reconciler. */
  onAccepted?: (event: OgEvent) => void;
}

export class Intake {
  private inFlight = 0;
  private closed = false;
  private readonly maxInFlight: number;

  constructor(private readonly options: IntakeOptions) {
    this.maxInFlight = options.maxInFlight ?? 512;
  }

  /** Stores the event durably; resolves only after the commit. Throws HttpProblem 429/503. */
  async accept(event: OgEvent): Promise<Accepted> {
    const { store, metrics, availability } = this.options;
    if (this.closed) throw new HttpProblem('shutting-down', 'the service is shutting down; retry shortly');
    if (this.inFlight >= this.maxInFlight) {
      throw new HttpProblem('overloaded', 'too many deliveries in flight; retry shortly');
    }
    this.inFlight++;
    try {
      const outcome = await timed(metrics, 'accept', () => store.accept(event));
      availability.succeeded();
      metrics.events.inc({ source: event.source, outcome, reason: '' });
      if (outcome === 'accepted') this.options.onAccepted?.(event);
      return { id: event.id, status: outcome };
    } catch (error) {
      if (error instanceof Refused) throw new HttpProblem('invalid-event', error.message);
      availability.failed(error);
      throw new HttpProblem('store-unavailable', 'the event store cannot take writes; retry shortly');
    } finally {
      this.inFlight--;
    }
  }

  /** Turns every later delivery away with 503; those already in flight finish. */
  close(): void {
    this.closed = true;
  }

  get accepting(): boolean {
    return !this.closed;
  }
}
