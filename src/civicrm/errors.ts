// The one error type the CiviCRM client reports, and the rules that decide whether a
// failure is worth another attempt. The worker owns backoff; this file only answers
// "would the same call, sent again later, plausibly succeed?".

/**
 * Where a call failed:
 * - `transport`: no usable API answer (network, timeout, HTTP status, non-JSON body);
 * - `auth`: CiviCRM refused our credentials (every call will fail until config changes);
 * - `api`: CiviCRM ran the call and answered `is_error: 1`.
 */
export type CiviErrorKind = 'transport' | 'auth' | 'api';

export interface CiviErrorOptions {
  entity: string;
  action: string;
  kind: CiviErrorKind;
  retryable: boolean;
  /** CiviCRM's `error_code`, when it sent one. */
  code?: string;
  cause?: unknown;
}

/** Every failure the client reports. Messages never contain the API key or site key. */
export class CiviError extends Error {
  /** True when the same call may succeed later: the worker should back off and retry. */
  readonly retryable: boolean;
  readonly kind: CiviErrorKind;
  /** CiviCRM's `error_code` when given (e.g. `duplicate`, or a DB error name). */
  readonly code?: string;
  readonly entity: string;
  readonly action: string;

  constructor(message: string, opts: CiviErrorOptions) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'CiviError';
    this.retryable = opts.retryable;
    this.kind = opts.kind;
    if (opts.code !== undefined) this.code = opts.code;
    this.entity = opts.entity;
    this.action = opts.action;
  }
}

// Legacy-auth failures arrive as HTTP 200 `is_error: 1`: from CRM_Utils_REST::handle and
// loadCMSBootstrap on extern/rest.php, from authx's LegacyRestAuthenticator::reject
// (`FATAL: <reason>`) on civicrm/ajax/rest, from the WordPress REST controller. They are
// configuration problems, so they get the same `auth` kind as an authx 401. Every
// `FATAL:` answer of the REST layer is such a refusal (the one other, "API v2 not
// accessible", this client never provokes), which is why FATAL is NOT retryable.
const AUTH_FAILURE =
  /^(FATAL: |User API key invalid|Failed to authenticate key|ERROR: No CMS user associated|Param (api_)?key is not valid)/i;

// MySQL lock contention. CiviCRM wraps create/delete in a transaction, and MySQL rolls
// back the whole transaction on a deadlock, so nothing was written and MySQL itself says
// "try restarting transaction". The words may sit in `error_message` or, for PEAR DB
// errors, in the `sql`/`debug_info` fields (Civi\API\Kernel::formatPearException).
const TRANSIENT_DB =
  /deadlock|lock wait timeout|try restarting transaction|database lock|server has gone away|lost connection to mysql|too many connections/i;

/** Classifies an `is_error: 1` envelope; `redact` strips secrets from server-provided text. */
export function apiError(
  entity: string,
  action: string,
  envelope: Record<string, unknown>,
  redact: (text: string) => string,
): CiviError {
  const message = bounded(redact(text(envelope.error_message) ?? 'unknown error'));
  const code = text(envelope.error_code);
  const details = [message, text(envelope.sql), text(envelope.debug_info)].join('\n');
  const auth = AUTH_FAILURE.test(message);
  return new CiviError(
    auth ? `CiviCRM rejected authentication for ${entity}.${action}: ${message}` : `CiviCRM ${entity}.${action}: ${message}`,
    {
      entity,
      action,
      kind: auth ? 'auth' : 'api',
      retryable: !auth && TRANSIENT_DB.test(details),
      ...(code === undefined ? {} : { code: redact(code) }),
    },
  );
}

/**
 * Whether CiviCRM refused a call because a group id it was given no longer exists (deleted by
 * hand): API validation of the group_id pseudoconstant ("'12' is not a valid option for field
 * group_id", api/v3/utils.php) or, failing that, the foreign key ("group_id is not valid : 12").
 */
export function isGoneGroup(error: unknown): boolean {
  if (!(error instanceof CiviError) || error.kind !== 'api') return false;
  return /is not a valid option for field group_id\b|\bgroup_id is not valid : /.test(error.message);
}

/** Classifies a non-2xx HTTP answer; `snippet` is already redacted server text. */
export function httpError(entity: string, action: string, status: number, snippet: string): CiviError {
  const said = snippet === '' ? '' : `: ${snippet}`;
  if (status === 401 || status === 403) {
    // authx answers 401 for a bad or missing credential; a 403 from CiviCRM or the CMS in
    // front of it is equally a matter of configuration, not of waiting.
    return new CiviError(
      `CiviCRM rejected authentication for ${entity}.${action} (HTTP ${status}); check the API key, site key and auth mode${said}`,
      { entity, action, kind: 'auth', retryable: false },
    );
  }
  // 5xx, 408 and 429 are the server's way of saying "later". Other statuses (404 wrong
  // URL, 3xx redirect to a login page or to https) will not change by waiting.
  const retryable = status >= 500 || status === 408 || status === 429;
  return new CiviError(`CiviCRM ${entity}.${action}: HTTP ${status}${said}`, {
    entity,
    action,
    kind: 'transport',
    retryable,
  });
}

/** Classifies an error thrown while sending or reading (undici, abort). */
export function networkError(entity: string, action: string, err: unknown, timeoutMs: number): CiviError {
  const e = err as { name?: unknown; code?: unknown; message?: unknown };
  const timedOut =
    e.name === 'TimeoutError' ||
    e.code === 'UND_ERR_HEADERS_TIMEOUT' ||
    e.code === 'UND_ERR_BODY_TIMEOUT' ||
    e.code === 'UND_ERR_CONNECT_TIMEOUT';
  const what = timedOut ? `timed out after ${timeoutMs} ms` : `request failed: ${String(e.message ?? err)}`;
  // An invalid argument (say, a key with a line break in a header) fails the same way
  // every time; everything else here is the network or the server going away.
  return new CiviError(`CiviCRM ${entity}.${action}: ${what}`, {
    entity,
    action,
    kind: 'transport',
    retryable: e.code !== 'UND_ERR_INVALID_ARG',
    cause: err,
  });
}

/** A 2xx answer that is not an API envelope (HTML error page, PHP fatal, truncated JSON). */
export function malformedAnswer(entity: string, action: string, problem: string): CiviError {
  return new CiviError(`CiviCRM ${entity}.${action}: ${problem}`, {
    entity,
    action,
    kind: 'transport',
    retryable: true,
  });
}

// CiviCRM's own message is kept whole unless it runs on: some repeat every parameter sent.
const MESSAGE_CHARS = 1_000;

function bounded(message: string): string {
  return message.length > MESSAGE_CHARS ? `${message.slice(0, MESSAGE_CHARS)}…` : message;
}

function text(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return String(value);
  return undefined;
}
