// Requests against a test app through inject, and assertions on what a client sees.
import type { LightMyRequestResponse } from 'fastify';
import { expect } from 'vitest';
import { PROBLEM_TYPES, type ProblemName } from '../../src/http/problem-types.js';
import { ADMIN_TOKEN, signedDrupal, signedNative, type TestApp } from './app.js';

export type Response = LightMyRequestResponse;

/** Header overrides: a string replaces the header, `undefined` removes it. */
export type HeaderOverrides = Record<string, string | undefined>;

function withHeaders(base: Record<string, string>, overrides: HeaderOverrides = {}): Record<string, string> {
  const headers = { ...base };
  for (const [name, value] of Object.entries(overrides)) {
    if (value === undefined) delete headers[name];
    else headers[name] = value;
  }
  return headers;
}

export interface NativeDelivery {
  id?: string;
  secret?: string;
  /** Unix seconds the delivery is signed at. */
  at?: number;
  headers?: HeaderOverrides;
  /** Sent instead of the signed body (to tamper with it). */
  payload?: string | Buffer;
}

/** POST /webhooks/og with a correctly signed body, unless the options spoil it. */
export function postNative(app: TestApp, body: unknown, opts: NativeDelivery = {}): Promise<Response> {
  const signed = signedNative(body, opts);
  return app.fastify.inject({
    method: 'POST',
    url: '/webhooks/og',
    headers: withHeaders(signed.headers, opts.headers),
    payload: opts.payload ?? signed.payload,
  });
}

export interface DrupalOptions {
  delivery?: string;
  secret?: string;
  headers?: HeaderOverrides;
}

/** POST /webhooks/drupal with a correctly signed body, unless the options spoil it. */
export function postDrupal(app: TestApp, event: string, body: unknown, opts: DrupalOptions = {}): Promise<Response> {
  const signed = signedDrupal(event, body, opts);
  return app.fastify.inject({
    method: 'POST',
    url: '/webhooks/drupal',
    headers: withHeaders(signed.headers, opts.headers),
    payload: signed.payload,
  });
}

/** A request to the operator API, with the admin token unless another (or none) is given. */
export function adminRequest(
  app: TestApp,
  method: 'GET' | 'POST',
  url: string,
  opts: { token?: string | null; payload?: unknown; headers?: Record<string, string> } = {},
): Promise<Response> {
  const token = opts.token === undefined ? ADMIN_TOKEN : opts.token;
  return app.fastify.inject({
    method,
    url,
    headers: { ...(token === null ? {} : { authorization: `Bearer ${token}` }), ...opts.headers },
    ...(opts.payload === undefined ? {} : { payload: opts.payload as string | object }),
  });
}

/** Asserts a 202 webhook answer and returns it. */
export function expectAnswer(res: Response, status: 'accepted' | 'duplicate' | 'ignored', id?: string): { id: string; status: string } {
  expect(res.statusCode, res.body).toBe(202);
  const body = res.json() as { id: string; status: string };
  expect(body).toEqual({ id: id ?? expect.any(String), status });
  return body;
}

/**
 * Asserts an RFC 9457 problem answer: status code, content type, and a body with exactly
 * type, title, status and detail. Returns the problem.
 */
export function expectProblem(res: Response, status: number, detail?: RegExp): { type: string; title: string; status: number; detail: string } {
  expect(res.statusCode, res.body).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json\b/);
  const problem = res.json() as { type: string; title: string; status: number; detail: string };
  expect(problem).toEqual({
    // One of the declared problems, with the status it is declared with.
    type: expect.stringMatching(/^urn:og-civicrm-sync:problem:[a-z-]+$/),
    title: expect.stringMatching(/\S/),
    status,
    detail: expect.stringMatching(/\S/),
  });
  const name = problem.type.split(':').at(-1)!;
  expect(Object.keys(PROBLEM_TYPES), problem.type).toContain(name);
  if (name !== 'request-error') expect(PROBLEM_TYPES[name as ProblemName].status).toBe(status);
  if (detail) expect(problem.detail).toMatch(detail);
  return problem;
}

/** Asserts a 429/503 problem with a Retry-After of whole seconds. */
export function expectRetryLater(res: Response, status: 429 | 503, detail?: RegExp): void {
  expectProblem(res, status, detail);
  expect(res.headers['retry-after']).toMatch(/^[1-9][0-9]*$/);
}

/** Nothing reached the store: no event, no ledger row. */
export async function expectNothingStored(app: TestApp): Promise<void> {
  expect(await app.store.eventCounts()).toMatchObject({ accepted: 0 });
  expect(await app.store.listEvents({ limit: 10 })).toEqual([]);
  const work = await app.store.workCounts();
  expect({ groups: work.groups.total, members: work.members.total }).toEqual({ groups: 0, members: 0 });
}
