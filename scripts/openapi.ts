// Writes openapi.yaml: the document @fastify/swagger builds from the routes of a fully configured
// app (operator API and console included). test/openapi.test.ts fails when the file differs.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderOpenApi } from '../src/http/openapi.js';
import { testApp } from '../test/support/app.js';

const file = fileURLToPath(new URL('../openapi.yaml', import.meta.url));
const app = await testApp();
try {
  await app.fastify.ready();
  writeFileSync(file, renderOpenApi(app.fastify));
  console.log(`wrote ${file}`);
} finally {
  await app.close();
}
