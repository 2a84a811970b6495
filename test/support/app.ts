// Test fixtures: a configured app over a real SQLite file, and signed requests.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildApp, type AppDeps } from '../../src/app.js';
import { loadConfig, type Config } from '../../src/config.js';
import type { OgEvent } from '../../src/events/model.js';
import { signHub, signNative } from '../../src/http/signatures.js';
import { SqliteStore } from '../../src/ledger/sqlite.js';
import { createMetrics } from '../../src/metrics.js';

export const SECRET = 'whsec_' + Buffer.from('a test secret of thirty-two bytes').toString('base64');
export const PLAIN_SECRET = 'plain-shared-secret';
export const ADMIN_TOKEN = 'test-admin-token-0123456789';

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

/** Headers and payload of a correctly signed native delivery. */
export function signedNative(body: unknown, opts: { id?: string; secret?: string; at?: number } = {}) {
  const payload = typeof body === 'string' ? body : JSON.stringify(body);
  const id = opts.id ?? uniqueId();
  const secret = opts.secret ?? SECRET;
  const headers = signNative(secretOf(secret), id, payload, opts.at);
  return { id, payload, headers: { ...headers, 'content-type': 'application/json' } };
}

/** Headers and payload of a correctly signed Drupal webhooks delivery. */
export function signedDrupal(event: string, body: unknown, opts: { delivery?: string; secret?: string } = {}) {
  const payload = typeof body === 'string' ? body : JSON.stringify(body);
  const delivery = opts.delivery ?? uniqueId('dlv');
  return {
    delivery,
    payload,
    headers: {
      'content-type': 'application/json',
      'x-drupal-event': event,
      'x-drupal-delivery': delivery,
      'x-hub-signature-256': signHub(secretOf(opts.secret ?? PLAIN_SECRET), payload),
    },
  };
}

function secretOf(raw: string) {
  return loadConfig(testEnv({ WEBHOOK_SECRETS: raw })).webhookSecrets[0]!;
}

/** A normalized event for store tests. */
export function ogEvent(change: OgEvent['change'], occurredAt: number, id = uniqueId()): OgEvent {
  return { id, source: 'og', occurredAt, receivedAt: Date.now(), change };
}
