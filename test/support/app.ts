// Test fixtures: a configured app over a real SQLite file, and signed requests.
import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildApp, type AppDeps } from '../../src/app.js';
import { loadConfig, type Config } from '../../src/config.js';
import type { OgEvent } from '../../src/events/model.js';
import { SqliteStore } from '../../src/ledger/sqlite.js';
import type { GroupCiviState, Lease, Store, UserRecord } from '../../src/ledger/store.js';
import { createMetrics } from '../../src/metrics.js';

export const SECRET = 'whsec_' + Buffer.from('a test secret of thirty-two bytes').toString('base64');
export const PLAIN_SECRET = 'plain-shared-secret';
/** Well-formed secrets of both kinds that the test configuration does not hold. */
export const UNKNOWN_SECRET = 'whsec_' + Buffer.from('a secret this service does not know').toString('base64');
export const UNKNOWN_PLAIN_SECRET = 'not-the-shared-secret';
export const ADMIN_TOKEN = 'test-admin-token-0123456789abcdef';

export function testEnv(overrides: Record<string, string> = {}): Record<string, string> {
  return {
    CIVICRM_URL: 'http://127.0.0.1:9/civicrm/ajax/rest',
    CIVICRM_API_KEY: 'api-key',
    CIVICRM_SITE_KEY: 'site-key',
    WEBHOOK_SECRETS: `${SECRET} ${PLAIN_SECRET}`,
    ADMIN_TOKEN,
    ...overrides,
  };
}

export function testConfig(overrides: Record<string, string> = {}): Config {
  return loadConfig(testEnv(overrides));
}

export function tempDir(): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), 'og-sync-test-'));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

export async function openTempStore() {
  const dir = tempDir();
  const store = new SqliteStore(join(dir.path, 'store.sqlite'));
  await store.migrate();
  return {
    store,
    path: join(dir.path, 'store.sqlite'),
    async dispose() {
      await store.close();
      dir.remove();
    },
  };
}

export type TestApp = Awaited<ReturnType<typeof testApp>>;

export async function testApp(options: { config?: Config; deps?: Partial<AppDeps> } = {}) {
  const temp = await openTempStore();
  const metrics = createMetrics();
  const config = options.config ?? testConfig();
  const app = await buildApp({ config, store: temp.store, metrics, ...options.deps });
  return {
    ...app,
    store: temp.store,
    metrics,
    config,
    async close() {
      await app.fastify.close();
      await temp.dispose();
    },
  };
}

let counter = 0;
export const uniqueId = (prefix = 'evt') => `${prefix}_${process.pid}_${++counter}_${Date.now()}`;

/** A native event body with a given type and data. */
export function nativeBody(type: string, data: unknown, timestamp = new Date().toISOString()) {
  return { type, timestamp, data };
}

/**
 * Headers and payload of a correctly signed native delivery. The signature is computed here, from
 * the Standard Webhooks spec (HMAC-SHA256 over "<id>.<timestamp>.<raw bytes>"), not by the code under
 * test. A string or Buffer body is sent as is; anything else as JSON.
 */
export function signedNative<B>(body: B, opts: { id?: string; secret?: string; at?: number } = {}) {
  const payload = rawPayload(body);
  const id = opts.id ?? uniqueId();
  const timestamp = String(opts.at ?? Math.floor(Date.now() / 1000));
  const key = secretOf(opts.secret ?? SECRET).key;
  const signature = createHmac('sha256', key).update(`${id}.${timestamp}.`).update(payload).digest('base64');
  const headers = { 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': `v1,${signature}` };
  return { id, payload, headers: { ...headers, 'content-type': 'application/json' } };
}

/** Headers and payload of a Drupal webhooks delivery signed `sha256=<hex HMAC of the raw body>` with a shared secret. */
export function signedDrupal<B>(event: string, body: B, opts: { delivery?: string; secret?: string } = {}) {
  const payload = rawPayload(body);
  const delivery = opts.delivery ?? uniqueId('dlv');
  return {
    delivery,
    payload,
    headers: {
      'content-type': 'application/json',
      'x-drupal-event': event,
      'x-drupal-delivery': delivery,
      'x-hub-signature-256': `sha256=${createHmac('sha256', opts.secret ?? PLAIN_SECRET).update(payload).digest('hex')}`,
    },
  };
}

/** A Buffer is sent as is (and stays a Buffer); a string as is; anything else as JSON. */
function rawPayload<B>(body: B): B extends Buffer ? Buffer : string {
  const payload = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
  return payload as B extends Buffer ? Buffer : string;
}

/** A Drupal webhooks delivery; fields are loosely typed so tests can reshape them. */
export type DrupalDelivery = { event: string; user?: Record<string, any>; entity: Record<string, any> };

/** A delivery of Drupal's webhooks module from test/fixtures/drupal (a fresh copy each call). */
export function drupalFixture(name: string): DrupalDelivery {
  return JSON.parse(readFileSync(new URL(`../fixtures/drupal/${name}.json`, import.meta.url), 'utf8'));
}

function secretOf(raw: string) {
  return loadConfig(testEnv({ WEBHOOK_SECRETS: raw })).webhookSecrets[0]!;
}

/** A normalized event for store tests. */
export function ogEvent(change: OgEvent['change'], occurredAt: number, id = uniqueId()): OgEvent {
  return { id, source: 'og', occurredAt, receivedAt: Date.now(), change };
}

/**
 * A lease on a group as a finished worker leaves it: taken and let go, its token still the
 * newest, so results recorded under it are accepted. For seeding sync states in tests.
 */
export async function asHolder(store: Store, ogId: number): Promise<Lease> {
  const lease = await store.leaseGroup(ogId, 'test', 60_000);
  if (!lease) throw new Error(`OG group ${ogId} is leased or unknown`);
  await store.releaseGroup(lease);
  return lease;
}

/** What a sync records of a group in CiviCRM, for tests that seed synced states. */
export const CIVI: GroupCiviState = { active: true, objectTable: 'civicrm_group' };

/** The profile the store keeps of one Drupal user. */
export async function userOf(store: Pick<Store, 'users'>, uid: number): Promise<UserRecord | undefined> {
  return (await store.users([uid])).get(uid);
}
