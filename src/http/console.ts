// The operator console: the files `npm run build` bundles into dist/console, served as they are.
// The page holds no data; it asks the operator API with the token the operator types in.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import fastifyStatic from '@fastify/static';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyPluginAsync } from 'fastify';
import { Type } from 'typebox';
import { problemResponses } from './problem-types.js';
import { HttpProblem } from './problems.js';

export interface ConsoleOptions {
  /** The built console: index.html, app.js, style.css. */
  root: string;
}

// Scripts and styles from this origin only, no inline code of any kind: a value from Drupal or
// CiviCRM that slipped into the page as markup could not run.
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const consoleSchema = {
  tags: ['admin'],
  operationId: 'getConsole',
  summary: 'The operator console, a web page over the operator API',
  description:
    'Holds no data: it asks for the ADMIN_TOKEN, keeps it in the tab (sessionStorage) and calls /admin/* with it. Served ' +
    'with `Content-Security-Policy` (scripts and styles from this origin only), `X-Frame-Options: DENY` and ' +
    '`Referrer-Policy: no-referrer`. Absent (404) while ADMIN_TOKEN is unset.',
  security: [],
  response: {
    200: { description: 'The page', content: { 'text/html': { schema: Type.String() } } },
    ...problemResponses('not-found'),
  },
};

export const consoleRoutes: FastifyPluginAsync<ConsoleOptions> = async (plain, options) => {
  const app = plain.withTypeProvider<TypeBoxTypeProvider>();
  app.addHook('onSend', async (_request, reply) => {
    reply.header('content-security-policy', CONTENT_SECURITY_POLICY);
    reply.header('x-frame-options', 'DENY');
    reply.header('referrer-policy', 'no-referrer');
    reply.header('x-content-type-options', 'nosniff');
    // A new release's files must reach the browser at once; they are small.
    reply.header('cache-control', 'no-cache');
  });

  app.get('/console', { schema: { hide: true } }, async (_request, reply) => reply.redirect('/console/', 301));

  const page = await readFile(join(options.root, 'index.html'), 'utf8').catch(() => undefined);
  const notBuilt = () => new HttpProblem('not-found', 'the console is not built: run npm run build');
  app.get('/console/', { schema: consoleSchema }, async (_request, reply) => {
    if (page === undefined) throw notBuilt();
    return reply.type('text/html; charset=utf-8').send(page);
  });
  if (page === undefined) {
    app.get('/console/*', { schema: { hide: true } }, async () => {
      throw notBuilt();
    });
    return;
  }
  // The page's scripts and styles, as built.
  await app.register(fastifyStatic, { root: options.root, prefix: '/console/', index: false, decorateReply: false });
};
