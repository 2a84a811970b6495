/**
 * API v3 result envelopes (civicrm_api3_create_success / civicrm_api3_create_error, api/v3/utils.php,
 * checked at 5.69 and 6.14) and the conversion of stored rows into API records: every value a
 * string as MySQL hands it over, booleans as '1'/'0', serialized multi-values as arrays of strings
 * (_civicrm_api3_separate_values), NULL columns left out (Civi/API/SelectQuery.php run(), 5.69,
 * which also drops empty strings; the emulator keeps those).
 */
export type ApiRecord = Record<string, unknown>;
export type Params = Record<string, unknown>;

export interface SuccessEnvelope {
  is_error: 0;
  version: 3;
  count: number;
  id?: number;
  values: unknown;
  [extra: string]: unknown;
}

export function apiString(value: unknown): unknown {
  if (value === null || value === undefined) return undefined;
  if (typeof value === 'boolean') return value ? '1' : '0';
  if (typeof value === 'number') return String(value);
  if (Array.isArray(value)) return value.length === 0 ? undefined : value.map((v) => String(v));
  return value;
}

/** The API view of a row; `fields` limits and orders the columns (`id` always comes along). */
export function toApiRecord(row: object, fields?: readonly string[]): ApiRecord {
  const source = row as Record<string, unknown>;
  const keys = fields ? ['id', ...fields.filter((f) => f !== 'id')] : Object.keys(source);
  const record: ApiRecord = {};
  for (const key of keys) {
    const value = apiString(source[key]);
    if (value !== undefined) record[key] = value;
  }
  return record;
}

export function isSequential(params: Params): boolean {
  const s = params['sequential'];
  return s === 1 || s === '1' || s === true;
}

/**
 * A success envelope for records keyed by id. `id` is the key of a single result,
 * a number (PHP array keys are integers), while each record's own `id` is a string.
 * No records give `values: []`, since PHP encodes an empty array as a JSON list.
 * civicrm_api3_create_success (5.69, 6.14) sets is_error, version, count, id, values in that
 * order; here `id` comes after `values` (same JSON object, different key order).
 */
export function success(entries: ReadonlyArray<readonly [number, unknown]>, params: Params): SuccessEnvelope {
  const envelope: SuccessEnvelope = { is_error: 0, version: 3, count: entries.length, values: [] };
  if (entries.length === 1) envelope.id = entries[0]![0];
  if (isSequential(params)) {
    envelope.values = entries.map(([, record]) => record);
  } else if (entries.length > 0) {
    envelope.values = Object.fromEntries(entries.map(([key, record]) => [String(key), record]));
  }
  return envelope;
}

export function successRecords(records: readonly ApiRecord[], params: Params): SuccessEnvelope {
  return success(
    records.map((r) => [Number(r['id']), r] as const),
    params,
  );
}

/** Results whose values are not records (`create_success(1)`, `create_success(TRUE)`: count 1, api/v3/utils.php, 5.69). */
export function successFlag(values: 1 | true, extra: Params = {}): SuccessEnvelope {
  return { is_error: 0, version: 3, count: 1, values, ...extra };
}

/** civicrm_api3_create_error (api/v3/utils.php, 5.69 and 6.14): the data first, then the flag and message. */
export function errorResult(message: string, data: Params = {}): Params {
  return { ...data, is_error: 1, error_message: message };
}

export function isSuccessEnvelope(value: unknown): value is SuccessEnvelope {
  return typeof value === 'object' && value !== null && (value as Params)['is_error'] === 0 && 'values' in value;
}

export function isErrorResult(value: unknown): value is Params {
  const flag = typeof value === 'object' && value !== null ? (value as Params)['is_error'] : undefined;
  return flag === 1 || flag === '1';
}
