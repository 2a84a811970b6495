/** Failures and slowness a test can switch on to see how a client copes. */
import { collationKey } from './collation.js';

/**
 * 'http500': HTTP 500 with an HTML body; 'html': HTTP 200 with an HTML error page;
 * 'reset': the socket is destroyed; 'timeout': no answer until the emulator closes;
 * 'is_error': HTTP 200 `{is_error: 1, error_message: 'DB Error: database lock'}`;
 * 'proxy-echo': HTTP 502 from a proxy whose HTML page quotes the request body.
 */
export type FaultKind = 'http500' | 'html' | 'reset' | 'timeout' | 'is_error' | 'proxy-echo';

export interface EmulatorFaults {
  /** The next `n` HTTP requests fail. */
  failNext(n: number, kind?: FaultKind): void;
  /** Every request fails for `ms` milliseconds from now. */
  failFor(ms: number, kind?: FaultKind): void;
  /** Every answer is delayed by `ms` milliseconds. */
  latency(ms: number): void;
  /** Contact.create with this email (compared as MySQL would) fails with `message`. */
  rejectEmail(email: string, message?: string): void;
  clear(): void;
}

export class Faults implements EmulatorFaults {
  private queued: FaultKind[] = [];
  private window: { until: number; kind: FaultKind } | null = null;
  private delayMs = 0;
  private readonly rejected = new Map<string, string>();

  failNext(n: number, kind: FaultKind = 'http500'): void {
    for (let i = 0; i < n; i++) this.queued.push(kind);
  }

  failFor(ms: number, kind: FaultKind = 'http500'): void {
    this.window = { until: Date.now() + ms, kind };
  }

  latency(ms: number): void {
    this.delayMs = ms;
  }

  rejectEmail(email: string, message = `Email '${email}' is not valid.`): void {
    this.rejected.set(collationKey(email), message);
  }

  clear(): void {
    this.queued = [];
    this.window = null;
    this.delayMs = 0;
    this.rejected.clear();
  }

  /** The fault for a request arriving now, if any; a queued one is used up. */
  take(): FaultKind | undefined {
    const next = this.queued.shift();
    if (next) return next;
    if (this.window && Date.now() < this.window.until) return this.window.kind;
    return undefined;
  }

  get delay(): number {
    return this.delayMs;
  }

  rejection(email: string): string | undefined {
    return this.rejected.get(collationKey(email));
  }
}
