// Request bodies as the bytes received: the webhook routes verify signatures over them, and
// every JSON route decodes them the same strict way, so the same body gets the same answer
// wherever it is sent.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { HttpProblem } from './problems.js';

export const BODY_LIMIT = 1024 * 1024;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Makes the plugin's routes receive JSON bodies (`application/json`, `application/*+json`) as
 * a Buffer; any other media type is refused with 415.
 */
export function keepRawJsonBodies(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  // Fastify tests a RegExp against the whole header, parameters included (`; charset=utf-8`).
  for (const type of ['application/json', /^application\/[\w.+-]+\+json\s*(?:;|$)/]) {
    app.addContentTypeParser(type, { parseAs: 'buffer', bodyLimit: BODY_LIMIT }, (_request, body, done) => done(null, body));
  }
}

/** The body as received; 415 when there is none of a JSON media type. */
export function rawBody(request: FastifyRequest): Buffer {
  if (!Buffer.isBuffer(request.body)) throw new HttpProblem('unsupported-media-type', 'the body must be application/json');
  return request.body;
}

/** Parses a body strictly: invalid UTF-8 is refused, not replaced. */
export function parseJson(raw: Buffer): unknown {
  let text: string;
  try {
    text = utf8.decode(raw);
  } catch {
    throw new HttpProblem('invalid-json', 'the body is not valid UTF-8');
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new HttpProblem('invalid-json', 'the body is not valid JSON');
  }
}
