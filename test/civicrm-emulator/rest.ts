/**
 * CRM_Utils_REST: from form fields to API calls and back to JSON (or XML). Everything here
 * follows CRM/Utils/REST.php (and extern/rest.php), read at 5.69 and 6.14 unless said otherwise.
 *
 * - /civicrm/ajax/rest (CRM_Utils_REST::ajax) answers `entity=api3` with several
 *   calls at once (processMultiple); extern/rest.php (handle) does not.
 * - Parameters come from the `json` field when it holds an object; every other
 *   form field except q, json, key, api_key, entity and action joins them and wins.
 * - Only actions starting with `get` may come by GET.
 */
import { authenticateAjax, authenticateExtern, type Headers, type Keys } from './auth.js';
import { errorResult, isErrorResult, type Params } from './envelope.js';
import { textField, type FormFields } from './form.js';
import { isEmpty, type Kernel } from './kernel.js';
import { jsonResponse, textResponse, type HttpResponse } from './response.js';

/** One API call as the emulator received it (each call of an api3 batch counts). */
export interface CallRecord {
  entity: string;
  action: string;
  params: Record<string, unknown>;
  method: 'GET' | 'POST';
  isError: boolean;
  errorMessage?: string;
}

export type Endpoint = 'ajax' | 'extern';

export interface RestRequest {
  readonly endpoint: Endpoint;
  readonly method: string;
  readonly fields: FormFields;
  readonly headers: Headers;
  readonly remoteAddress: string;
}

export interface RestDeps {
  readonly kernel: Kernel;
  readonly keys: Keys;
  /** Sets the contact the following calls act as. */
  actAs(contactId: number): void;
  record(call: CallRecord): void;
}

const SKIPPED_FIELDS = new Set(['q', 'json', 'key', 'api_key', 'entity', 'action']);

/**
 * CRM_Utils_REST::buildParamList; null when the json field cannot be decoded. CiviCRM also copies
 * an array `return` into `return.<field>` keys; readReturn in query.ts reads the array itself.
 */
function buildParamList(fields: FormFields): Params | null {
  let params: Params = {};
  const json = fields['json'];
  if (typeof json === 'string' && json.startsWith('{')) {
    try {
      params = JSON.parse(json) as Params;
    } catch {
      return null;
    }
  }
  for (const [name, value] of Object.entries(fields)) if (!SKIPPED_FIELDS.has(name)) params[name] = value;
  return params;
}

/** CRM_Utils_JSON::output of the (mis-built) array buildParamList answers undecodable JSON with (4.7, 5.69, 6.14). */
const UNDECODABLE = jsonResponse({ is_error: 1, 0: 'error_message', 1: 'Unable to decode supplied JSON.' });

function isHierarchical(value: object): boolean {
  return Object.values(value).some((v) => typeof v === 'object' && v !== null);
}

/**
 * The array CRM_Utils_REST::output encodes: scalars wrapped, `is_error` added to flat arrays.
 * CiviCRM's `Could not interpret…` array (CRM_Utils_REST::error) has error_message before is_error.
 */
function outputValue(result: unknown): unknown {
  if (result === null || result === undefined) return errorResult('Could not interpret return values from function.');
  // PHP's `if (!$result) $result = 0;`: '0' is falsy too.
  if (typeof result !== 'object') return { is_error: 0, result: result === false || result === '' || result === '0' ? 0 : result };
  if (isHierarchical(result) || 'is_error' in result) return result;
  return { ...result, is_error: 0 };
}

function escapeXml(value: unknown): string {
  return String(value).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * CRM_Utils_Array::xml (CRM/Utils/Array.php, 5.69 and 6.14). CiviCRM escapes & < > and turns
 * \x01 into a comma (escapeXML), and does not rewrite spaces in tag names.
 */
function xmlOf(value: object, depth: number): string {
  const pad = ' '.repeat(depth * 4);
  return Object.entries(value)
    .map(([name, v]) =>
      typeof v === 'object' && v !== null
        ? `${pad}<${name}>\n${xmlOf(v, depth + 1)}${pad}</${name}>\n`
        : `${pad}<${name.replace(/ /g, '_')}>${escapeXml(v ?? '')}</${name.replace(/ /g, '_')}>\n`,
    )
    .join('');
}

/**
 * Answers JSON when the request had a non-empty `json` field, XML otherwise, as CiviCRM does.
 * In the XML of `values`, REST.php writes scalar values unescaped; the emulator escapes them.
 */
function output(result: unknown, fields: FormFields): HttpResponse {
  const value = outputValue(result) as Params;
  if (!isEmpty(fields['json'])) return jsonResponse(value);
  const count = value['count'] !== undefined ? ` count="${String(value['count'])}" ` : '';
  let xml = `<?xml version="1.0"?>\n      <ResultSet xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ${count}>\n      `;
  if (isHierarchical(value)) {
    const values = value['values'];
    if (typeof values === 'object' && values !== null) {
      for (const [key, v] of Object.entries(values)) {
        xml += typeof v === 'object' && v !== null ? `<Result>\n${xmlOf(v, 1)}</Result>\n` : `<Result>\n<id>${key}</id><value>${escapeXml(v)}</value></Result>\n`;
      }
    }
  } else {
    xml += `<Result>\n${xmlOf(value, 1)}</Result>\n`;
  }
  return textResponse(200, 'text/xml', `${xml}</ResultSet>\n`);
}

export class Rest {
  constructor(private readonly deps: RestDeps) {}

  handle(req: RestRequest): HttpResponse {
    return req.endpoint === 'ajax' ? this.ajax(req) : this.extern(req);
  }

  /** CRM_Utils_REST::ajax, after authx has looked at the credentials (ext/authx, since 5.36). */
  private ajax(req: RestRequest): HttpResponse {
    const auth = authenticateAjax(req.headers, req.fields, this.deps.keys);
    if (auth.kind === 'rejected') return auth.response;
    this.deps.actAs(auth.contactId);
    // CiviCRM's CSRF guard. Since 5.47 CRM_Utils_REST::isWebServiceRequest lets authx's legacyrest
    // flow through without X-Requested-With (read at 5.69 and 6.14); before, key/api_key callers
    // needed it. The emulator keeps that stricter rule so a client passing here passes everywhere.
    if (auth.flow !== 'xheader' && req.headers['x-requested-with'] !== 'XMLHttpRequest') {
      return jsonResponse(
        errorResult('SECURITY ALERT: Ajax requests can only be issued by javascript clients, eg. CRM.api3().', {
          IP: req.remoteAddress,
          level: 'security',
          referer: null,
          reason: 'CSRF suspected',
        }),
      );
    }
    const entity = textField(req.fields, 'entity');
    const action = textField(req.fields, 'action');
    if (!entity || !action) {
      return output({ error_message: 'missing mandatory params "entity=" or "action="', is_error: 1 }, req.fields);
    }
    if (entity === 'api3') return output(this.processMultiple(req), req.fields);
    const params = buildParamList(req.fields);
    if (!params) return UNDECODABLE;
    return output(this.process(req, entity, action, params), req.fields);
  }

  /** extern/rest.php: bootAndRun → loadCMSBootstrap → handle (present at 5.69 and 6.14). */
  private extern(req: RestRequest): HttpResponse {
    const auth = authenticateExtern(req.fields, this.deps.keys);
    if ('error' in auth) return output({ error_message: auth.error, is_error: 1 }, req.fields);
    this.deps.actAs(auth.contactId);
    const params = buildParamList(req.fields);
    if (!params) return UNDECODABLE;
    return output(this.process(req, textField(req.fields, 'entity'), textField(req.fields, 'action'), params), req.fields);
  }

  /**
   * processMultiple: `json` maps keys to `[entity, action, params]`; the answer
   * maps the same keys to each call's own result, envelope and all. Only ajax() offers it
   * (`entity=api3`).
   */
  private processMultiple(req: RestRequest): unknown {
    let calls: unknown;
    try {
      calls = JSON.parse(textField(req.fields, 'json'));
    } catch {
      calls = null;
    }
    if (typeof calls !== 'object' || calls === null) return {};
    const entries = Object.entries(calls).map(([key, call]) => {
      const [entity, action, params] = Array.isArray(call) ? call : [];
      const given = typeof params === 'object' && params !== null && !Array.isArray(params) ? (params as Params) : {};
      return [key, this.process(req, String(entity ?? ''), String(action ?? ''), given)] as const;
    });
    // output()'s array_merge renumbers integer keys, so a list of calls gets a list of results.
    if (entries.every(([key]) => /^\d+$/.test(key))) return entries.map(([, result]) => result);
    return Object.fromEntries(entries);
  }

  /**
   * CRM_Utils_REST::process: the GET guard, then the API itself. REST.php tests
   * `strtolower($args[2] != 'check')`, a case-sensitive `!= 'check'`; the emulator lets any case
   * of `check` through.
   */
  private process(req: RestRequest, entity: string, action: string, params: Params): unknown {
    const method = req.method === 'GET' ? 'GET' : 'POST';
    let result: unknown;
    const lower = action.toLowerCase();
    if (method === 'GET' && !lower.startsWith('get') && lower !== 'check') {
      result = errorResult('SECURITY: All requests that modify the database must be http POST, not GET.', {
        IP: req.remoteAddress,
        level: 'security',
        referer: null,
        reason: 'Destructive HTTP GET',
      });
    } else {
      const apiParams: Params = { ...params, check_permissions: true };
      if (apiParams['version'] === undefined) apiParams['version'] = 3;
      result = this.deps.kernel.run(entity, action, apiParams);
    }
    const failed = isErrorResult(result);
    this.deps.record({
      entity: this.deps.kernel.canonicalName(entity),
      action: lower,
      params,
      method,
      isError: failed,
      ...(failed ? { errorMessage: String((result as Params)['error_message']) } : {}),
    });
    return result;
  }
}
