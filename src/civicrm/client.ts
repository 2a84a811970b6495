// The only code that talks HTTP to CiviCRM: API v3 over REST, through one keep-alive
// undici Pool. See /work/shared/CIVICRM_API_V3.md for the wire facts this follows.
//
// Wire choices, with the reasons:
// - Every call is a form-encoded POST with `entity`, `action` and `json`. CiviCRM accepts
//   any action by POST (CRM_Utils_REST::process only refuses non-get actions by GET), and
//   POST keeps legacy keys out of URLs and access logs and has no URL length limit for
//   long `IN` filters. All params, `options`, `sequential` and chained `api.*` keys go
//   inside `json`: PHP mangles dotted field names and ignores a separate `options` field.
// - `sequential: 1` is always sent, so `values` is an array.
// - The client does not retry, the worker owns backoff, with one exception: a read-only
//   call that lost its socket before any answer is sent again at once. That is the
//   keep-alive race (the server closed an idle connection as we reused it), not CiviCRM
//   trouble, and a `get` without chained `api.*` calls changes nothing when repeated.
//   Writes are never repeated here: the server may have run them.

import { Pool } from 'undici';
import { htmlToText } from '../events/html-text.js';
import { apiError, CiviError, httpError, malformedAnswer, networkError } from './errors.js';
import { secretRedactor } from './redact.js';

export { CiviError } from './errors.js';
export type { CiviErrorKind } from './errors.js';

export type CiviAuthMode = 'legacy' | 'authx';

export interface CiviClientOptions {
  /** Full REST endpoint: `…/civicrm/ajax/rest` or legacy `…/extern/rest.php`. */
  url: string;
  apiKey: string;
  siteKey: string;
  /** `legacy`: `key` + `api_key` form fields; `authx`: `X-Civi-Auth` + `X-Civi-Key` headers. */
  auth: CiviAuthMode;
  /** Whole-call limit (connect, send, answer), default 30 000 ms. */
  timeoutMs?: number;
  /** Keep-alive connections in the pool, default 8. */
  connections?: number;
  /** Called once per API call (each slot of a batch counts as one), for metrics. */
  onCall?: (entity: string, action: string, outcome: 'ok' | 'error' | 'retryable', error?: CiviError) => void;
  /** Called once per HTTP request, answered or not, with how long it took. */
  onRequest?: (seconds: number) => void;
}

/** One API answer. Field values stay as CiviCRM sent them (mostly strings). */
export interface ApiResult<T> {
  count: number;
  /** The record's id when the call touched exactly one. */
  id?: number;
  values: T[];
  /**
   * Other top-level fields of the answer, when there are any: `added`/`not_added` of
   * `GroupContact.create`, `result` of `getvalue`.
   */
  extra?: Record<string, unknown>;
}

export type ApiCall = [entity: string, action: string, params: Record<string, unknown>];

type Json = Record<string, unknown>;
type Reply = { status: number; type: string; text: string };

// An error page is read this far; of its text, this much is kept.
const EXCERPT_SOURCE_CHARS = 64 * 1024;
const EXCERPT_CHARS = 200;

const MULTI_ENTITY = 'api3';
const MULTI_ACTION = 'call';

export class CiviClient {
  readonly #pool: Pool;
  readonly #path: string;
  readonly #multiCall: boolean;
  readonly #headers: Record<string, string>;
  readonly #authFields: Record<string, string>;
  readonly #redact: (text: string) => string;
  readonly #timeoutMs: number;
  readonly #onCall: CiviClientOptions['onCall'];
  readonly #onRequest: CiviClientOptions['onRequest'];
  #version: Promise<string> | undefined;

  constructor(opts: CiviClientOptions) {
    const url = new URL(opts.url);
    this.#pool = new Pool(url.origin, { connections: opts.connections ?? 8 });
    this.#path = url.pathname + url.search;
    this.#multiCall = servesMultiCall(url);
    this.#timeoutMs = opts.timeoutMs ?? 30_000;
    this.#onCall = opts.onCall;
    this.#onRequest = opts.onRequest;
    this.#redact = secretRedactor([opts.apiKey, opts.siteKey]);
    // X-Requested-With is sent in both modes: CRM_Utils_REST::ajax refuses requests
    // without it ("SECURITY ALERT"); only versions with isWebServiceRequest() let an
    // X-Civi-Auth request through without it.
    this.#headers = {
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
      'x-requested-with': 'XMLHttpRequest',
      ...(opts.auth === 'authx' ? { 'x-civi-auth': `Bearer ${opts.apiKey}`, 'x-civi-key': opts.siteKey } : {}),
    };
    this.#authFields = opts.auth === 'legacy' ? { key: opts.siteKey, api_key: opts.apiKey } : {};
  }

  /** Runs one API call; rejects with a CiviError on any failure, including `is_error: 1`. */
  async call<T = Json>(entity: string, action: string, params: Json = {}): Promise<ApiResult<T>> {
    let answer: Json;
    try {
      answer = await this.#send(entity, action, sequential(params), isReadOnly(action, params));
    } catch (err) {
      this.#report(entity, action, outcomeOf(err), err);
      throw err;
    }
    const outcome = this.#settle<T>(entity, action, answer);
    if (outcome instanceof CiviError) throw outcome;
    return outcome;
  }

  /**
   * Every matching row of a `get`, fetched in pages of `pageSize` (sorted by id, so pages
   * do not overlap) until a page comes back short. Never stops at CiviCRM's default 25.
   * `options.limit`, `options.offset` and `options.sort` of `params` are overridden.
   */
  async getAll<T = Json>(entity: string, params: Json = {}, pageSize = 200): Promise<T[]> {
    if (!Number.isInteger(pageSize) || pageSize < 1) throw new RangeError('pageSize must be a positive integer');
    const options = isRecord(params.options) ? params.options : {};
    const rows: T[] = [];
    for (let offset = 0; ; offset += pageSize) {
      const page = await this.call<T>(entity, 'get', {
        ...params,
        options: { ...options, sort: 'id ASC', limit: pageSize, offset },
      });
      rows.push(...page.values);
      if (page.values.length < pageSize) return rows;
    }
  }

  /**
   * Runs several calls in one HTTP request (the api3 multi-call CRM.api3() uses:
   * `entity=api3&action=call&json={"c0":[entity, action, params], …}`). Each slot holds
   * its result, or a CiviError when that call answered `is_error: 1`; the calls are not
   * one transaction. The promise rejects when the request as a whole fails (transport,
   * authentication). Empty input sends nothing.
   *
   * Only the `civicrm/ajax/rest` route serves multi-calls (CRM_Utils_REST::ajax →
   * processMultiple); for a legacy `extern/rest.php` URL the calls are sent one by one,
   * in order, with the same result shape.
   */
  async batch(calls: ApiCall[]): Promise<Array<ApiResult<Json> | CiviError>> {
    if (calls.length === 0) return [];
    if (!this.#multiCall) return this.#batchOneByOne(calls);
    const request: Json = {};
    calls.forEach(([entity, action, params], i) => {
      request[slot(i)] = [entity, action, sequential(params)];
    });
    const readOnly = calls.every(([, action, params]) => isReadOnly(action, params));
    let answer: Json;
    try {
      answer = await this.#send(MULTI_ENTITY, MULTI_ACTION, request, readOnly);
      // A whole-request refusal (bad key, CSRF check) is one envelope, not one per slot.
      if (isError(answer.is_error)) throw this.#envelopeError(MULTI_ENTITY, MULTI_ACTION, answer);
    } catch (err) {
      for (const [entity, action] of calls) this.#report(entity, action, outcomeOf(err), err);
      throw err;
    }
    return calls.map(([entity, action], i) => {
      const envelope = answer[slot(i)];
      if (isRecord(envelope)) return this.#settle<Json>(entity, action, envelope);
      const missing = malformedAnswer(entity, action, 'missing from the multi-call answer');
      this.#report(entity, action, outcomeOf(missing), missing);
      return missing;
    });
  }

  /** CiviCRM's version (`System.get`), asked once and then cached. */
  version(): Promise<string> {
    if (this.#version === undefined) {
      const asked = this.call('System', 'get').then((r) => {
        const version = r.values[0]?.version;
        if (typeof version !== 'string') throw malformedAnswer('System', 'get', 'answered without a version');
        return version;
      });
      // A failed look-up is not cached: the next caller asks again.
      asked.catch(() => {
        if (this.#version === asked) this.#version = undefined;
      });
      this.#version = asked;
    }
    return this.#version;
  }

  /** Drops the cached version, e.g. after reconnecting to a possibly upgraded CiviCRM. */
  forgetVersion(): void {
    this.#version = undefined;
  }

  /** Waits for calls under way, then closes every connection. */
  async close(): Promise<void> {
    await this.#pool.close();
  }

  async #batchOneByOne(calls: ApiCall[]): Promise<Array<ApiResult<Json> | CiviError>> {
    const results: Array<ApiResult<Json> | CiviError> = [];
    for (const [entity, action, params] of calls) {
      try {
        results.push(await this.call(entity, action, params));
      } catch (err) {
        // Same contract as the multi-call: only API answers fill a slot.
        if (!(err instanceof CiviError) || err.kind !== 'api') throw err;
        results.push(err);
      }
    }
    return results;
  }

  /** One POST; resolves with the decoded JSON object whatever its `is_error`. */
  async #send(entity: string, action: string, params: Json, readOnly: boolean): Promise<Json> {
    const body = new URLSearchParams({ entity, action, json: JSON.stringify(params), ...this.#authFields }).toString();
    // A read-only call that lost its socket is sent once more (see the top of this file).
    const reply = await this.#post(body)
      .catch((err: unknown) => (readOnly && lostSocket(err) ? this.#post(body) : Promise.reject(err)))
      .catch((err: unknown) => Promise.reject(networkError(entity, action, err, this.#timeoutMs)));
    const { status, text } = reply;
    if (status < 200 || status > 299) throw httpError(entity, action, status, this.#excerpt(reply));
    let answer: unknown;
    try {
      // PHP files saved with a byte-order mark put it in front of the JSON.
      answer = JSON.parse(text.replace(/^\uFEFF/, ''));
    } catch {
      throw malformedAnswer(entity, action, `answered with something other than JSON: ${this.#excerpt(reply)}`);
    }
    if (!isRecord(answer)) throw malformedAnswer(entity, action, 'answered with JSON that is not an API envelope');
    return answer;
  }

  async #post(body: string): Promise<Reply> {
    const started = performance.now();
    try {
      // One signal covers connecting, sending and reading the whole body.
      const { statusCode, headers, body: reply } = await this.#pool.request({
        path: this.#path,
        method: 'POST',
        headers: this.#headers,
        body,
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
      const type = headers['content-type'];
      return { status: statusCode, type: (Array.isArray(type) ? type[0] : type) ?? '', text: await reply.text() };
    } finally {
      this.#onRequest?.((performance.now() - started) / 1000);
    }
  }

  /** Turns one envelope into a result or an error, and counts it. */
  #settle<T>(entity: string, action: string, envelope: Json): ApiResult<T> | CiviError {
    const outcome = isError(envelope.is_error)
      ? this.#envelopeError(entity, action, envelope)
      : toResult<T>(action, envelope);
    if (outcome instanceof CiviError) this.#report(entity, action, outcomeOf(outcome), outcome);
    else this.#report(entity, action, 'ok');
    return outcome;
  }

  #envelopeError(entity: string, action: string, envelope: Json): CiviError {
    return apiError(entity, action, envelope, (text) => this.#redact(text));
  }

  /**
   * What an error message keeps of an answer that is not an API envelope: a short excerpt of
   * its text, with every spelling of the keys removed (the answer may quote our request).
   */
  #excerpt(reply: Reply): string {
    const head = reply.text.slice(0, EXCERPT_SOURCE_CHARS);
    const text = /html/i.test(reply.type) || /^\s*</.test(head) ? htmlToText(head) : head;
    const flat = this.#redact(text).replace(/\s+/g, ' ').trim();
    return flat.length > EXCERPT_CHARS ? `${flat.slice(0, EXCERPT_CHARS)}…` : flat;
  }

  #report(entity: string, action: string, outcome: 'ok' | 'error' | 'retryable', error?: unknown): void {
    this.#onCall?.(entity, action, outcome, error instanceof CiviError ? error : undefined);
  }
}

/** CiviCRM serves the api3 multi-call only on its `civicrm/ajax/rest` route. */
function servesMultiCall(url: URL): boolean {
  return /(^|\/)civicrm\/ajax\/rest\/?$/.test(url.pathname) || url.searchParams.get('q') === 'civicrm/ajax/rest';
}

function slot(i: number): string {
  // Non-numeric keys: PHP's array_merge in CRM_Utils_REST::output renumbers numeric keys,
  // which would turn the answer into a list.
  return `c${i}`;
}

function sequential(params: Json): Json {
  return { ...params, sequential: 1 };
}

/** A `get*` action without chained calls (which may write) can be sent twice safely. */
function isReadOnly(action: string, params: Json): boolean {
  return action.toLowerCase().startsWith('get') && !Object.keys(params).some((k) => k.startsWith('api.'));
}

/** The connection died before an answer: a reset or closed keep-alive socket. */
function lostSocket(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return code === 'UND_ERR_SOCKET' || code === 'ECONNRESET' || code === 'EPIPE';
}

function outcomeOf(err: unknown): 'error' | 'retryable' {
  return err instanceof CiviError && err.retryable ? 'retryable' : 'error';
}

function isError(flag: unknown): boolean {
  return flag === 1 || flag === '1' || flag === true;
}

const ENVELOPE_KEYS = new Set(['is_error', 'version', 'count', 'id', 'values']);

function toResult<T>(action: string, envelope: Json): ApiResult<T> {
  const verb = action.toLowerCase();
  if (verb === 'getsingle') {
    // getsingle answers with the record itself in place of an envelope.
    const { is_error: _, ...record } = envelope;
    return withId({ count: 1, values: [record as T] }, record.id);
  }
  const { values } = envelope;
  // `values` is `1`/`true` for delete and absent for getcount/getvalue (they send `result`).
  const rows = Array.isArray(values) ? (values as T[]) : isRecord(values) ? (Object.values(values) as T[]) : [];
  const extra = Object.fromEntries(Object.entries(envelope).filter(([key]) => !ENVELOPE_KEYS.has(key)));
  const count = toNumber(envelope.count) ?? (verb === 'getcount' ? toNumber(extra.result) : undefined);
  const result = withId<T>({ count: count ?? rows.length, values: rows }, envelope.id);
  if (Object.keys(extra).length > 0) result.extra = extra;
  return result;
}

function withId<T>(result: ApiResult<T>, id: unknown): ApiResult<T> {
  const numeric = toNumber(id);
  if (numeric !== undefined) result.id = numeric;
  return result;
}

function toNumber(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'string' && /^-?\d+$/.test(value)) return Number(value);
  return undefined;
}

function isRecord(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
