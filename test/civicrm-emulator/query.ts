/**
 * The `get` machinery of API v3 (_civicrm_api3_get_options_from_params in api/v3/utils.php,
 * Civi/API/Api3SelectQuery.php buildWhereClause and Civi/API/SelectQuery.php, all checked at 5.69
 * and 6.14): filters with SQL operators, sort, limit/offset, return.
 */
import { collationKey, compareText } from './collation.js';
import type { Params } from './envelope.js';
import { ApiError, dbError } from './errors.js';

export type ColumnKind = 'int' | 'bool' | 'text' | 'list';
export type Stored = string | number | boolean | readonly number[] | null;

export interface Column<R> {
  readonly kind: ColumnKind;
  read(row: R): Stored;
  /** Rows holding exactly this value, when an index can say so without a scan. */
  lookup?(value: string): readonly R[];
}

export type Columns<R> = Readonly<Record<string, Column<R>>>;

/**
 * CRM_Core_DAO::acceptedSQLOperators() (CRM/Core/DAO.php, 5.69 and 6.14), compared strictly as
 * Api3SelectQuery's in_array(…, TRUE) does. IS EMPTY and IS NOT EMPTY are the emulator's own:
 * that list has never held them, and Api3SelectQuery treats any other key as a value for `=`.
 */
const OPERATORS = new Set([
  '=', '<=', '>=', '>', '<', 'LIKE', '<>', '!=', 'NOT LIKE', 'IN', 'NOT IN',
  'BETWEEN', 'NOT BETWEEN', 'IS NOT NULL', 'IS NULL', 'IS EMPTY', 'IS NOT EMPTY',
]);

interface Filter<R> {
  readonly field: string;
  readonly column: Column<R>;
  readonly op: string;
  readonly value: unknown;
}

export interface GetOptions {
  /** null: no LIMIT clause (`limit: 0`, or a value that is not an integer). */
  readonly limit: number | null;
  readonly offset: number;
  readonly sort: string | null;
  readonly fields: readonly string[] | null;
  readonly isCount: boolean;
}

function isInteger(value: unknown): boolean {
  return (typeof value === 'number' && Number.isInteger(value)) || (typeof value === 'string' && /^-?\d+$/.test(value));
}

/**
 * Later spellings win, then `options`, in _civicrm_api3_get_options_from_params's order
 * (option_sort over option.sort over sort; option_limit over option.limit over rowCount; default
 * limit 25; a limit that is 0 or no integer means no LIMIT).
 */
export function readOptions(params: Params): GetOptions {
  const pick = (names: readonly string[], fallback: unknown): unknown =>
    names.reduce<unknown>((value, name) => (params[name] !== undefined ? params[name] : value), fallback);
  let sort = pick(['sort', 'option.sort', 'option_sort'], null);
  let offset = pick(['offset', 'option.offset', 'option_offset'], 0);
  let limit = pick(['rowCount', 'option.limit', 'option_limit'], 25);
  let isCount = false;
  const options = params['options'];
  // A separately posted `options` form field arrives as a string and is ignored here.
  if (typeof options === 'object' && options !== null && !Array.isArray(options)) {
    const o = options as Params;
    isCount = Boolean(o['is_count']);
    if (o['offset'] !== undefined) offset = o['offset'];
    if (o['limit'] !== undefined) limit = o['limit'];
    if (o['sort'] !== undefined) sort = o['sort'];
  }
  if (typeof sort === 'string' && /select/i.test(sort)) throw new ApiError('invalid string in sort options');
  return {
    limit: isInteger(limit) && Number(limit) !== 0 ? Number(limit) : null,
    offset: isInteger(offset) ? Math.max(0, Number(offset)) : 0,
    sort: Array.isArray(sort) ? sort.map(String).join(', ') : typeof sort === 'string' && sort !== '' ? sort : null,
    fields: readReturn(params),
    isCount,
  };
}

function readReturn(params: Params): string[] | null {
  const fields = new Set<string>();
  const ret = params['return'];
  if (Array.isArray(ret)) ret.forEach((f) => fields.add(String(f)));
  else if (typeof ret === 'string') ret.replace(/ /g, '').split(',').forEach((f) => f && fields.add(f));
  for (const key of Object.keys(params)) if (key.startsWith('return.')) fields.add(key.slice('return.'.length));
  return fields.size > 0 ? [...fields] : null;
}

function parseFilters<R>(params: Params, columns: Columns<R>): Filter<R>[] {
  const filters: Filter<R>[] = [];
  for (const [field, raw] of Object.entries(params)) {
    const column = columns[field];
    // Unknown keys (options, chained calls…) and NULL values are no filters, as in
    // Api3SelectQuery::buildWhereClause.
    if (!column || raw === null || raw === undefined) continue;
    if (Array.isArray(raw)) {
      // CiviCRM wraps a plain array as `=` (Api3SelectQuery); that it fails in SQL unless it holds
      // one value is the emulator's reading, not checked against MySQL.
      if (raw.length !== 1) throw dbError('unknown error');
      filters.push({ field, column, op: '=', value: raw[0] });
    } else if (typeof raw === 'object') {
      const [op, value] = Object.entries(raw as Params)[0] ?? [];
      // An unknown operator key ends up the same way (wrapped as `=`), modelled as a DB error.
      if (op === undefined || !OPERATORS.has(op)) throw dbError('unknown error');
      filters.push({ field, column, op, value });
    } else {
      filters.push({ field, column, op: '=', value: raw });
    }
  }
  return filters;
}

/** A comparable form of a stored or filter value for the column's kind. */
function normalize(kind: ColumnKind, value: unknown): string | number | null {
  if (value === null || value === undefined) return null;
  switch (kind) {
    case 'int':
    case 'bool': {
      if (typeof value === 'boolean') return value ? 1 : 0;
      const n = Number(value);
      return Number.isNaN(n) ? String(value) : n;
    }
    case 'list': {
      if (Array.isArray(value)) return value.length === 0 ? null : `\x01${value.join('\x01')}\x01`;
      return String(value);
    }
    case 'text':
      return collationKey(String(value));
  }
}

function compare(kind: ColumnKind, a: string | number, b: string | number): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return kind === 'text' ? (a < b ? -1 : a > b ? 1 : 0) : compareText(String(a), String(b));
}

function likePattern(pattern: string): RegExp {
  const source = [...collationKey(pattern)]
    .map((ch) => (ch === '%' ? '.*' : ch === '_' ? '.' : ch.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&')))
    .join('');
  return new RegExp(`^${source}$`, 's');
}

function list(value: unknown): unknown[] {
  if (Array.isArray(value)) return value;
  if (typeof value === 'object' && value !== null) return Object.values(value);
  return [value];
}

function matches<R>(row: R, filter: Filter<R>): boolean {
  const { kind } = filter.column;
  const stored = normalize(kind, filter.column.read(row));
  switch (filter.op) {
    case 'IS NULL':
      return stored === null;
    case 'IS NOT NULL':
      return stored !== null;
    case 'IS EMPTY':
      return stored === null || stored === '' || stored === 0;
    case 'IS NOT EMPTY':
      return !(stored === null || stored === '' || stored === 0);
  }
  if (stored === null) return false;
  const one = (v: unknown): string | number | null => normalize(kind, v);
  switch (filter.op) {
    case '=':
      return stored === one(filter.value);
    case '!=':
    case '<>':
      return stored !== one(filter.value);
    case 'IN':
      return list(filter.value).some((v) => one(v) === stored);
    case 'NOT IN':
      return !list(filter.value).some((v) => one(v) === stored);
    case 'LIKE':
      return likePattern(String(filter.value)).test(String(stored));
    case 'NOT LIKE':
      return !likePattern(String(filter.value)).test(String(stored));
    case 'BETWEEN':
    case 'NOT BETWEEN': {
      const [lo, hi] = list(filter.value).map(one);
      const inside = lo != null && hi != null && compare(kind, stored, lo) >= 0 && compare(kind, stored, hi) <= 0;
      return filter.op === 'BETWEEN' ? inside : !inside;
    }
    default: {
      const rhs = one(filter.value);
      if (rhs === null) return false;
      const d = compare(kind, stored, rhs);
      return filter.op === '<' ? d < 0 : filter.op === '<=' ? d <= 0 : filter.op === '>' ? d > 0 : d >= 0;
    }
  }
}

/** Narrows the scan through an index when an `=` or `IN` filter allows it. */
function candidates<R>(all: () => Iterable<R>, filters: readonly Filter<R>[]): Iterable<R> {
  for (const f of filters) {
    const lookup = f.column.lookup;
    if (!lookup || (f.op !== '=' && f.op !== 'IN')) continue;
    const values = f.op === '=' ? [f.value] : list(f.value);
    const found = new Set<R>();
    for (const v of values) for (const row of lookup(String(v))) found.add(row);
    return found;
  }
  return all();
}

function sorter<R>(sort: string, columns: Columns<R>): (a: R, b: R) => number {
  const keys = sort.split(',').map((part) => {
    const [field = '', direction = 'ASC'] = part.trim().split(/\s+/);
    const column = columns[field];
    // SelectQuery::buildOrderBy's message for a field it does not know.
    if (!column) throw new ApiError(`Unknown field specified for sort. Cannot order by '${part.trim()}'`);
    return { column, sign: direction.toUpperCase() === 'DESC' ? -1 : 1 };
  });
  return (a, b) => {
    for (const { column, sign } of keys) {
      const x = normalize(column.kind, column.read(a));
      const y = normalize(column.kind, column.read(b));
      // MySQL puts NULLs first in ascending order (MySQL's behaviour, not read in its source here).
      const d = x === null ? (y === null ? 0 : -1) : y === null ? 1 : compare(column.kind, x, y);
      if (d !== 0) return sign * d;
    }
    return 0;
  };
}

export interface Selection<R> {
  readonly rows: readonly R[];
  readonly options: GetOptions;
}

/**
 * Runs a `get`: filters from `params` on known columns, then sort, offset and limit.
 * `tieBreak` orders rows that the sort leaves equal; primary key order is what InnoDB usually
 * returns without ORDER BY, an assumption rather than a guarantee.
 */
export function select<R>(
  all: () => Iterable<R>,
  columns: Columns<R>,
  params: Params,
  tieBreak: (a: R, b: R) => number,
  defaultSort: string | null = null,
): Selection<R> {
  const options = readOptions(params);
  const filters = parseFilters(params, columns);
  let rows = [...candidates(all, filters)].filter((row) => filters.every((f) => matches(row, f)));
  const sort = options.sort ?? defaultSort;
  const bySort = sort ? sorter(sort, columns) : null;
  rows.sort((a, b) => (bySort ? bySort(a, b) : 0) || tieBreak(a, b));
  if (!options.isCount) {
    rows = options.limit === null ? rows.slice(options.offset) : rows.slice(options.offset, options.offset + options.limit);
  }
  return { rows, options };
}
