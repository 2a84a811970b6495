// What the service last heard from CiviCRM, for /readyz and /admin/status.

export interface CiviHealthView {
  reachable: boolean | null;
  lastContactAt: string | null;
  version: string | null;
  lastError: string | null;
}

export class CiviHealth {
  private reachable: boolean | null = null;
  private lastContactAt: number | null = null;
  private lastError: string | null = null;
  version: string | null = null;

  /** An answer came back (success or API error): CiviCRM is there. */
  answered(now = Date.now()): void {
    this.reachable = true;
    this.lastContactAt = now;
  }

  /** No usable answer: down, unreachable, or refusing our credentials. */
  unreachable(error: string): void {
    this.reachable = false;
    this.lastError = error;
  }

  view(): CiviHealthView {
    return {
      reachable: this.reachable,
      lastContactAt: this.lastContactAt === null ? null : new Date(this.lastContactAt).toISOString(),
      version: this.version,
      lastError: this.lastError,
    };
  }
}
