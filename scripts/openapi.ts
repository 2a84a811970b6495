// Writes openapi.yaml: the document @fastify/swagger builds from the routes of a fully configured
// app (operator API and console included). test/openapi.test.ts fails when the file differs.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { renderOpenApi } from '../src/http/openapi.js';
import { SqliteStore } from '../src/ledger/sqlite.js';
import { createMetrics } from '../src/metrics.js';

const file = fileURLToPath(new URL('../openapi.yaml', import.meta.url));
// Placeholders: the routes exist whatever the values are; ADMIN_TOKEN adds the operator API's.
const config = loadConfig({
  CIVICRM_URL: 'http://127.0.0.1:9/civicrm/ajax/rest',
  CIVICRM_API_KEY: 'unused',
  CIVICRM_SITE_KEY: 'unused',
  WEBHOOK_SECRETS: 'unused-secret-of-sufficient-length',
  ADMIN_TOKEN: 'unused-admin-token-of-sufficient-length',
});
const dir = mkdtempSync(join(tmpdir(), 'og-sync-openapi-'));
const store = new SqliteStore(join(dir, 'store.sqlite'));
try {
  await store.migrate();
  const { fastify } = await buildApp({ config, store, metrics: createMetrics() });
  await fastify.ready();
  writeFileSync(file, renderOpenApi(fastify));
  await fastify.close();
  console.log(`wrote ${file}`);
} finally {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
}
