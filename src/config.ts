// Environment → typed configuration. Every problem names its variable, so start-up can
// stop with one clear line instead of a stack trace.
import { isIP } from 'node:net';

export type OnGroupDelete = 'disable' | 'delete' | 'keep';
export type CiviAuthMode = 'legacy' | 'authx';

export interface WebhookSecret {
  /** HMAC key bytes: base64-decoded for a `whsec_…` Standard Webhooks secret, else the text itself. */
  key: Buffer;
  /** The secret as configured: Drupal's webhooks module signs with this very string. */
  raw: string;
}

export interface Config {
  port: number;
  host: string;
  civicrm: { url: string; apiKey: string; siteKey: string; auth: CiviAuthMode };
  webhookSecrets: WebhookSecret[];
  database: { kind: 'sqlite'; path: string } | { kind: 'postgres'; url: string };
  adminToken?: string;
  http: HttpLimits;
  ogGroupBundles: string[];
  /** Signature headers /webhooks/drupal accepts; sha256 always, sha1 for the module's 8.x-1.x. */
  drupalSignatures: Array<'sha256' | 'sha1'>;
  onGroupDelete: OnGroupDelete;
  createMissingContacts: boolean;
  syncConcurrency: number;
  /** Every OG group is re-observed in CiviCRM once per this many ms; 0 = never. */
  resyncIntervalMs: number;
  /** Settled events older than this many ms are pruned from the event log; 0 = kept for ever. */
  eventRetentionMs: number;
  logLevel: string;
}

/** How long a client may take to send a request, and how many sockets may be open at once. */
export interface HttpLimits {
  requestTimeoutMs: number;
  maxConnections: number;
}

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    problem: string,
  ) {
    super(`${variable}: ${problem}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** Reads the whole configuration; throws a ConfigError naming the first bad variable. */
export function loadConfig(env: Env = process.env): Config {
  refuseReverseSync(env);
  return {
    port: integer(env, 'PORT', 3000, 0, 65_535),
    host: host(env),
    civicrm: {
      url: httpUrl(env, 'CIVICRM_URL'),
      apiKey: required(env, 'CIVICRM_API_KEY'),
      siteKey: required(env, 'CIVICRM_SITE_KEY'),
      auth: oneOf(env, 'CIVICRM_AUTH', ['legacy', 'authx'], 'legacy'),
    },
    webhookSecrets: webhookSecrets(env),
    database: database(env),
    adminToken: adminToken(env),
    http: {
      requestTimeoutMs: duration(env, 'REQUEST_TIMEOUT', 30_000, 1_000),
      maxConnections: integer(env, 'MAX_CONNECTIONS', 512, 1, 65_535),
    },
    ogGroupBundles: list(env, 'OG_GROUP_BUNDLES', ['group']),
    drupalSignatures: drupalSignatures(env),
    onGroupDelete: oneOf(env, 'ON_GROUP_DELETE', ['disable', 'delete', 'keep'], 'disable'),
    createMissingContacts: boolean(env, 'CREATE_MISSING_CONTACTS', true),
    syncConcurrency: integer(env, 'SYNC_CONCURRENCY', 4, 1, 64),
    resyncIntervalMs: duration(env, 'RESYNC_INTERVAL', 24 * 3_600_000, 1_000, true),
    eventRetentionMs: duration(env, 'EVENT_RETENTION', 30 * 86_400_000, 1_000, true),
    logLevel: oneOf(env, 'LOG_LEVEL', LOG_LEVELS, 'info'),
  };
}

/** The subset of configuration that commands which only touch the store need. */
export function loadDatabaseConfig(env: Env = process.env): Config['database'] {
  return database(env);
}

/** Secrets for `send`, which signs but does not talk to CiviCRM. */
export function loadWebhookSecrets(env: Env = process.env): WebhookSecret[] {
  return webhookSecrets(env);
}

// A host name as RFC 1123 allows it: dot-separated labels of letters, digits and inner hyphens.
const HOST_NAME = /^(?=.{1,253}$)[a-z\d]([a-z\d-]{0,61}[a-z\d])?(\.[a-z\d]([a-z\d-]{0,61}[a-z\d])?)*$/i;

function host(env: Env): string {
  const value = optional(env, 'HOST') ?? '0.0.0.0';
  if (isIP(value) === 0 && !HOST_NAME.test(value)) {
    throw new ConfigError('HOST', `must be an IP address or a host name to listen on, got "${value}"`);
  }
  return value;
}

/**
 * CiviCRM → OG needs a log of group-contact changes that API v3 does not offer (SubscriptionHistory
 * is an API v4 entity). Running one-way while the operator asked for both would let the periodic
 * resync undo the very edits made in CiviCRM, so `on` stops start-up rather than being ignored.
 */
function refuseReverseSync(env: Env): void {
  if (boolean(env, 'REVERSE_SYNC', false)) {
    throw new ConfigError('REVERSE_SYNC', 'on is not available in this release (changes made in CiviCRM are not read back); set it to off or leave it unset');
  }
}

function optional(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

function required(env: Env, name: string): string {
  const value = optional(env, name);
  if (value === undefined) throw new ConfigError(name, 'is required but not set');
  return value;
}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const value = optional(env, name);
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new ConfigError(name, `must be a whole number from ${min} to ${max}, got "${value}"`);
  }
  return Number(value);
}

function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const value = optional(env, name);
  if (value === undefined) return fallback;
  const lower = value.toLowerCase() as T;
  if (!allowed.includes(lower)) throw new ConfigError(name, `must be one of ${allowed.join(', ')}, got "${value}"`);
  return lower;
}

function boolean(env: Env, name: string, fallback: boolean): boolean {
  const value = optional(env, name)?.toLowerCase();
  if (value === undefined) return fallback;
  if (['true', '1', 'yes', 'on'].includes(value)) return true;
  if (['false', '0', 'no', 'off'].includes(value)) return false;
  throw new ConfigError(name, `must be true or false, got "${value}"`);
}

function list(env: Env, name: string, fallback: string[]): string[] {
  const value = optional(env, name);
  if (value === undefined) return fallback;
  const items = value.split(/[\s,]+/).filter(Boolean);
  if (items.length === 0) throw new ConfigError(name, 'must name at least one value');
  return items;
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `90s`, `15m`, `24h`, `7d` or `500ms` in milliseconds; undefined for anything else. */
export function parseDuration(text: string): number | undefined {
  const match = /^(\d+)(ms|s|m|h|d)$/.exec(text.trim());
  const ms = match ? Number(match[1]) * DURATION_UNITS[match[2]!]! : NaN;
  return Number.isSafeInteger(ms) ? ms : undefined;
}

/** A duration variable in milliseconds, at least `min` unless 0 is allowed. */
function duration(env: Env, name: string, fallback: number, min: number, allowZero = false): number {
  const value = optional(env, name);
  if (value === undefined) return fallback;
  if (allowZero && value === '0') return 0;
  const ms = parseDuration(value);
  if (ms === undefined || ms < min) {
    const zero = allowZero ? ', or 0 for off' : '';
    throw new ConfigError(name, `must be a duration like 30s, 15m, 24h or 7d, at least ${min} ms${zero}; got "${value}"`);
  }
  return ms;
}

// The token guards replays, reconciles and the whole event log: a short one can be guessed.
const ADMIN_TOKEN_MIN = 32;

function adminToken(env: Env): string | undefined {
  const value = optional(env, 'ADMIN_TOKEN');
  if (value !== undefined && value.length < ADMIN_TOKEN_MIN) {
    throw new ConfigError('ADMIN_TOKEN', `must be at least ${ADMIN_TOKEN_MIN} characters (got ${value.length}); make one with: openssl rand -hex 32`);
  }
  return value;
}

function drupalSignatures(env: Env): Array<'sha256' | 'sha1'> {
  const given = list(env, 'DRUPAL_SIGNATURES', ['sha256', 'sha1']).map((a) => a.toLowerCase());
  const known = given.every((a) => a === 'sha256' || a === 'sha1');
  if (!known || !given.includes('sha256')) {
    throw new ConfigError('DRUPAL_SIGNATURES', `must be sha256,sha1 or sha256, got "${given.join(',')}"`);
  }
  return [...new Set(given)] as Array<'sha256' | 'sha1'>;
}

function httpUrl(env: Env, name: string): string {
  const value = required(env, name);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(name, `must be an absolute http(s) URL, got "${value}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(name, `must be an http(s) URL, got "${url.protocol}"`);
  }
  return value;
}

function webhookSecrets(env: Env): WebhookSecret[] {
  const values = list(env, 'WEBHOOK_SECRETS', []);
  if (values.length === 0) throw new ConfigError('WEBHOOK_SECRETS', 'is required but not set');
  return values.map((raw, index) => {
    if (!raw.startsWith('whsec_')) return { key: Buffer.from(raw, 'utf8'), raw };
    const base64 = raw.slice('whsec_'.length);
    const key = Buffer.from(base64, 'base64');
    // Padded base64 only: Standard Webhooks libraries on the sending side refuse anything else.
    if (key.length === 0 || base64.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(base64)) {
      throw new ConfigError('WEBHOOK_SECRETS', `secret #${index + 1} starts with whsec_ but is not valid base64`);
    }
    return { key, raw };
  });
}

function database(env: Env): Config['database'] {
  const value = optional(env, 'DATABASE_URL') ?? 'sqlite:./data/og-sync.sqlite';
  if (value.startsWith('sqlite:')) {
    const path = value.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    if (path === '') throw new ConfigError('DATABASE_URL', 'sqlite: needs a file path, e.g. sqlite:./data/og-sync.sqlite');
    return { kind: 'sqlite', path };
  }
  if (/^postgres(ql)?:\/\//.test(value)) return { kind: 'postgres', url: value };
  throw new ConfigError('DATABASE_URL', 'must start with sqlite: or postgres://');
}
