// The operator console: the files `npm run build` bundles into dist/console, served as they are.
// The page holds no data; it asks the operator API with the token the operator types in.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyPluginAsync } from 'fastify';
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

export const consoleRoutes: FastifyPluginAsync<ConsoleOptions> = async (app, options) => {
  app.addHook('onSend', async (_request, reply) => {
    reply.header('content-security-policy', CONTENT_SECURITY_POLICY);
    reply.header('x-frame-options', 'DENY');
    reply.header('referrer-policy', 'no-referrer');
    reply.header('x-content-type-options', 'nosniff');
    // A new release's files must reach the browser at once; they are small.
    reply.header('cache-control', 'no-cache');
  });

  app.get('/console', async (_request, reply) => reply.redirect('/console/', 301));

  if (!existsSync(join(options.root, 'index.html'))) {
    app.get('/console/*', async () => {
      throw new HttpProblem('not-found', 'the console is not built: run npm run build');
    });
    return;
  }
  await app.register(fastifyStatic, { root: options.root, prefix: '/console/', index: 'index.html', decorateReply: false });
};
