// An end-to-end rig: the CiviCRM emulator, and the service (HTTP + worker) on a real
// socket and a real SQLite file, talking to each other over HTTP.
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { buildApp } from '../../src/app.js';
import { createMetrics } from '../../src/metrics.js';
import { createSync } from '../../src/sync/service.js';
import type { WorkerOptions } from '../../src/sync/worker.js';
import { startEmulator, type EmulatorOptions } from '../civicrm-emulator/index.js';
import { ADMIN_TOKEN, nativeBody, openTempStore, signedDrupal, signedNative, testConfig } from './app.js';
import { waitFor } from './wait.js';

export interface RigOptions {
  env?: Record<string, string>;
  emulator?: EmulatorOptions;
  /** Use the legacy extern/rest.php endpoint instead of /civicrm/ajax/rest. */
  legacyUrl?: boolean;
  startWorker?: boolean;
  /** Where the service logs; nowhere when absent. */
  logger?: Logger;
  /** The built console to serve under /console/. */
  consoleDir?: string;
  /** Worker options over the rig's own (quick polls and backoffs). */
  worker?: Partial<WorkerOptions>;
}

export async function startRig(options: RigOptions = {}) {
  const emulator = await startEmulator(options.emulator);
  const temp = await openTempStore();
  const config = testConfig({
    CIVICRM_URL: options.legacyUrl ? emulator.legacyUrl : emulator.restUrl,
    CIVICRM_API_KEY: emulator.apiKey,
    CIVICRM_SITE_KEY: emulator.siteKey,
    SYNC_CONCURRENCY: '2',
    ...options.env,
  });
  const metrics = createMetrics();
  const sync = createSync(config, temp.store, {
    metrics,
    logger: options.logger,
    worker: { pollMs: 20, restMs: 100, backoff: { baseMs: 20, maxMs: 200, maxAttempts: 3 }, ...options.worker },
  });
  const { fastify } = await buildApp({
    config,
    store: temp.store,
    metrics,
    logger: options.logger,
    sync: sync.control,
    onAccepted: () => sync.worker.wake(),
    consoleDir: options.consoleDir,
  });
  await fastify.listen({ port: 0, host: '127.0.0.1' });
  const base = `http://127.0.0.1:${(fastify.server.address() as AddressInfo).port}`;
  if (options.startWorker !== false) sync.worker.start();

  const post = async (path: string, headers: Record<string, string>, payload: string) => {
    const response = await fetch(base + path, { method: 'POST', headers, body: payload });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };

  return {
    emulator,
    store: temp.store,
    sync,
    metrics,
    base,
    /** Posts a signed native event; returns the answer. */
    async send(type: string, data: unknown, timestamp?: string, id?: string) {
      const { headers, payload } = signedNative(nativeBody(type, data, timestamp), { id });
      return post('/webhooks/og', headers, payload);
    },
    async sendDrupal(event: string, body: unknown) {
      const { headers, payload } = signedDrupal(event, body);
      return post('/webhooks/drupal', headers, payload);
    },
    /** Posts a delivery exactly as the Drupal module made it (test/drupal-emulator). */
    async deliver(delivery: { headers: Record<string, string>; body: Buffer }) {
      const response = await fetch(base + '/webhooks/drupal', { method: 'POST', headers: delivery.headers, body: new Uint8Array(delivery.body) });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    },
    async admin(method: string, path: string, body?: unknown) {
      const response = await fetch(base + path, {
        method,
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    },
    /** Waits until nothing is dirty (dead items do not count). */
    async settle(what = 'the sync to settle') {
      await waitFor(async () => {
        const work = await temp.store.workCounts();
        return work.groups.dirty === 0 && work.members.dirty === 0;
      }, what);
    },
    async close() {
      await fastify.close();
      await sync.close();
      await temp.dispose();
      await emulator.close();
    },
  };
}

export type Rig = Awaited<ReturnType<typeof startRig>>;
