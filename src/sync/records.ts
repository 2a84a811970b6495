// CiviCRM records as the sync logic sees them: typed, with numbers as numbers.
// CiviCRM answers every value as a string and leaves NULL fields out; the parsers
// here are the one place that knows.

export type ObjectTable = 'civicrm_group' | 'civicrm_saved_search';

export const GROUP_TYPE_ACCESS = 1;
export const GROUP_TYPE_MAILING = 2;

export interface CiviGroup {
  id: number;
  title: string;
  name?: string;
  source?: string;
  description?: string;
  isActive: boolean;
  groupType: number[];
}

export interface CiviRole {
  id: number;
  value: number;
  label: string;
  description?: string;
  isActive: boolean;
}

export interface CiviEntityRole {
  id: number;
  aclRoleId: number;
  entityTable: string;
  entityId: number;
  isActive: boolean;
}

export interface CiviAcl {
  id: number;
  name?: string;
  operation: string;
  entityTable: string;
  entityId: number;
  objectTable: string;
  objectId: number;
  isActive: boolean;
  deny: boolean;
}

type Row = Record<string, unknown>;

const num = (value: unknown): number => Number(value);
const str = (value: unknown): string | undefined => (value === undefined || value === null ? undefined : String(value));
const flag = (value: unknown, fallback: boolean): boolean =>
  value === undefined || value === null || value === '' ? fallback : value === true || String(value) === '1';

/** group_type reads back as an array, or on some versions as a CTRL-A or comma separated string. */
function groupTypes(value: unknown): number[] {
  if (Array.isArray(value)) return value.map(Number).filter(Number.isFinite);
  if (typeof value === 'string' || typeof value === 'number') {
    return String(value).split(/[\x01,]/).filter(Boolean).map(Number).filter(Number.isFinite);
  }
  return [];
}

export function parseGroup(row: Row): CiviGroup {
  return {
    id: num(row.id),
    title: String(row.title ?? ''),
    name: str(row.name),
    source: str(row.source),
    description: str(row.description),
    isActive: flag(row.is_active, true),
    groupType: groupTypes(row.group_type),
  };
}

export function parseRole(row: Row): CiviRole {
  return {
    id: num(row.id),
    value: num(row.value),
    label: String(row.label ?? ''),
    description: str(row.description),
    isActive: flag(row.is_active, true),
  };
}

export function parseEntityRole(row: Row): CiviEntityRole {
  return {
    id: num(row.id),
    aclRoleId: num(row.acl_role_id),
    entityTable: String(row.entity_table ?? ''),
    entityId: num(row.entity_id),
    isActive: flag(row.is_active, true),
  };
}

export function parseAcl(row: Row): CiviAcl {
  return {
    id: num(row.id),
    name: str(row.name),
    operation: String(row.operation ?? ''),
    entityTable: String(row.entity_table ?? ''),
    entityId: num(row.entity_id),
    objectTable: String(row.object_table ?? ''),
    objectId: num(row.object_id),
    isActive: flag(row.is_active, true),
    deny: flag(row.deny, false),
  };
}

/** CiviCRM 5.64 moved group ACLs from civicrm_saved_search to civicrm_group. */
export function objectTableFor(version: string): ObjectTable {
  const [major = 0, minor = 0] = version.split('.').map((part) => Number.parseInt(part, 10) || 0);
  return major > 5 || (major === 5 && minor >= 64) ? 'civicrm_group' : 'civicrm_saved_search';
}
