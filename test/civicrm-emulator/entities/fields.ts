/** Field validation shared by the entities, worded as CiviCRM's API v3 words it (api/v3/utils.php, 5.69 and 6.14). */
import { collationKey } from '../collation.js';
import type { Params } from '../envelope.js';
import { invalidInteger, invalidOption, tooLong } from '../errors.js';
import { isEmpty } from '../kernel.js';
import type { Column } from '../query.js';
import type { Row, Table } from '../table.js';

export function isIntegerLike(value: unknown): boolean {
  return (typeof value === 'number' && Number.isInteger(value)) || (typeof value === 'string' && /^-?\d+$/.test(value.trim()));
}

export function toInt(value: unknown, field: string): number {
  if (!isIntegerLike(value)) throw invalidInteger(field);
  return Number(value);
}

/** `id` of a create/update call, or undefined for an insert. */
export function optionalId(params: Params): number | undefined {
  return isEmpty(params['id']) ? undefined : toInt(params['id'], 'id');
}

export function toBool(value: unknown): boolean {
  return !(value === false || value === 0 || value === '0' || value === '' || value === null || value === undefined);
}

/**
 * A text field's value, checked against its varchar length in characters (mb_strlen in
 * _civicrm_api3_validate_string, which skips the check for fields with options).
 */
export function text(params: Params, field: string, maxlength?: number): string | null | undefined {
  const value = params[field];
  if (value === undefined) return undefined;
  if (value === null) return null;
  const str = String(value);
  const length = [...str].length;
  if (maxlength !== undefined && length > maxlength) throw tooLong(field, length, maxlength);
  return str;
}

/**
 * A pseudoconstant field: the value may be an option key or its label, exact first and then in
 * any case; the key is what gets stored (_civicrm_api3_api_match_pseudoconstant_value).
 */
export function option(value: unknown, options: Readonly<Record<string, string>>, field: string): string {
  const str = String(value);
  if (Object.prototype.hasOwnProperty.call(options, str)) return str;
  const byLabel = Object.entries(options).find(([, label]) => label === str)
    ?? Object.entries(options).find(([, label]) => label.toLowerCase() === str.toLowerCase());
  if (!byLabel) throw invalidOption(value, field);
  return byLabel[0];
}

// ---- columns for `get` ------------------------------------------------------------

export function intColumn<R>(read: (row: R) => number | null, lookup?: (value: string) => readonly R[]): Column<R> {
  return lookup ? { kind: 'int', read, lookup } : { kind: 'int', read };
}

export function boolColumn<R>(read: (row: R) => boolean): Column<R> {
  return { kind: 'bool', read };
}

export function textColumn<R>(read: (row: R) => string | null, lookup?: (key: string) => readonly R[]): Column<R> {
  return lookup ? { kind: 'text', read, lookup: (value) => lookup(collationKey(value)) } : { kind: 'text', read };
}

/** The primary key column, looked up directly in the table. */
export function idColumn<R extends Row>(table: Table<R>): Column<R> {
  return intColumn(
    (row) => row.id,
    (value) => {
      const row = isIntegerLike(value) ? table.get(Number(value)) : undefined;
      return row ? [row] : [];
    },
  );
}

export const byId = (a: Row, b: Row): number => a.id - b.id;
