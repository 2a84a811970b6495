/** Failures and slowness a test can switch on to see how a client copes. */
import { collationKey } from './collation.js';
import { ApiError, dbError } from './errors.js';

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
  /**
   * The next `n` calls of `entity`.`action` fail as a MySQL error in them does (a lock wait timed
   * out, 1205, or a deadlock, 1213), worded `DB Error: unknown error` (DB_ERROR). That is right only
   * where PEAR DB's DB/mysqli.php errorcode_map lacks both codes: pear/db v1.10.0, which CiviCRM
   * 5.30–5.41 pin in composer.lock. civicrm-packages' own DB/mysqli.php mapped them from 2019-12-19
   * until it was dropped on 2020-08-01, and pear/db v1.11.0 (pinned by 5.42 to 5.69) and v1.12.1 map
   * 1205 to `database lock timeout` and 1213 to `deadlock`.
   */
  failCalls(entity: string, action: string, n?: number): void;
  /**
   * Calls of `entity`.`action` are refused as to an API user without `permission`: REST calls
   * check permissions (CRM/Utils/REST.php process() sets check_permissions), and
   * Civi/API/Subscriber/PermissionCheck.php throws an UnauthorizedException
   * (Civi/API/Exception/UnauthorizedException.php: `error_code` CRM_Core_Exception::UNAUTHORIZED,
   * `unauthorized`) with this message; all three read at 5.69 and 6.14. The default permission is
   * the catch-all of CRM_Core_Permission::getEntityActionPermissions (CRM/Core/Permission.php, 5.69).
   */
  refuseCalls(entity: string, action: string, permission?: string): void;
  clear(): void;
}

export class Faults implements EmulatorFaults {
  private queued: FaultKind[] = [];
  private window: { until: number; kind: FaultKind } | null = null;
  private delayMs = 0;
  private readonly rejected = new Map<string, string>();
  private readonly failing = new Map<string, number>();
  private readonly refused = new Map<string, string>();

  failNext(n: number, kind: FaultKind = 'http500'): void {
    for (let i = 0; i < n; i++) this.queued.push(kind);
  }

  failFor(ms: number, kind: FaultKind = 'http500'): void {
    this.window = { until: Date.now() + ms, kind };
  }

  latency(ms: number): void {
    this.delayMs = ms;
  }

  /** The default message is the emulator's own wording, not read in CiviCRM. */
  rejectEmail(email: string, message = `Email '${email}' is not valid.`): void {
    this.rejected.set(collationKey(email), message);
  }

  failCalls(entity: string, action: string, n = 1): void {
    this.failing.set(`${entity}.${action}`, n);
  }

  refuseCalls(entity: string, action: string, permission = 'administer CiviCRM'): void {
    this.refused.set(`${entity}.${action}`, permission);
  }

  clear(): void {
    this.queued = [];
    this.window = null;
    this.delayMs = 0;
    this.rejected.clear();
    this.failing.clear();
    this.refused.clear();
  }

  /** The failure set up for a call of `entity`.`action` (canonical names), if any; a counted one is used up. */
  callFailure(entity: string, action: string, checksPermissions: boolean): ApiError | undefined {
    const key = `${entity}.${action}`;
    const permission = this.refused.get(key);
    if (permission !== undefined && checksPermissions) {
      return new ApiError(`API permission check failed for ${entity}/${action} call; insufficient permission: require ${permission}`, 'unauthorized');
    }
    const left = this.failing.get(key) ?? 0;
    if (left === 0) return undefined;
    this.failing.set(key, left - 1);
    return dbError('unknown error');
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
