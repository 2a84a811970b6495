/** Group (civicrm_group): api/v3/Group.php over CRM_Contact_BAO_Group. */
import { collationKey } from '../collation.js';
import type { EmulatorDb, GroupRow } from '../db.js';
import { successFlag, successRecords, toApiRecord, type Params } from '../envelope.js';
import { ApiError, dbError } from '../errors.js';
import type { ApiContext, EntityDef } from '../kernel.js';
import { versionAtLeast } from '../version.js';
import { select, type Columns } from '../query.js';
import type { Patch } from '../table.js';
import { boolColumn, byId, idColumn, intColumn, isIntegerLike, option, optionalId, text, textColumn, toBool } from './fields.js';

const GROUP_TYPES: Readonly<Record<string, string>> = { '1': 'Access Control', '2': 'Mailing List' };
const VISIBILITY: Readonly<Record<string, string>> = {
  'User and User Admin Only': 'User and User Admin Only',
  'Public Pages': 'Public Pages',
};

const FIELDS = [
  'id', 'name', 'title', 'description', 'source', 'is_active', 'visibility', 'group_type',
  'is_hidden', 'is_reserved', 'created_id', 'modified_id',
] as const;

/**
 * Before CRM-18591 was fixed (4.7.16; 4.6 from August 2016), CRM_Contact_BAO_Group::create took
 * any array group_type by `array_keys()` (CRM/Contact/BAO/Group.php, 4.x), so a list `[2]` was
 * stored as type 0 and only the checkbox form `{"2": 1}` came out right.
 */
export const GROUP_TYPE_LIST_FIX = '4.7.16';

/**
 * group_type as CiviCRM accepts it: a list `[1, 2]`, checkbox form `{"2": 1}`, a
 * single value, option labels, or a CTRL-A separated string. Each value must be an
 * option: a comma string is one (invalid) value, since API validation runs first.
 * From 4.7.16 a list is kept and a checkbox map is reduced to its keys
 * (CRM_Utils_Array::convertCheckboxFormatToArray); before, every array by its keys.
 */
export function groupTypes(value: unknown, version: string): number[] {
  if (value === null || value === '') return [];
  if (Array.isArray(value) && !versionAtLeast(version, GROUP_TYPE_LIST_FIX)) return value.map((_, index) => index);
  let values: unknown[];
  if (Array.isArray(value)) values = value;
  else if (typeof value === 'object') values = Object.keys(value);
  else if (typeof value === 'string' && value.includes('\x01')) values = value.split('\x01').filter((v) => v !== '');
  else values = [value];
  return values.map((v) => Number(option(v, GROUP_TYPES, 'group_type')));
}

/** CRM_Utils_String::titleToVar: ASCII letters and digits, joined by `_`, at most 31 characters. */
function titleToVar(title: string): string {
  const munged = title.trim().replace(/[^a-zA-Z0-9]+/g, '_');
  if (munged === '_' || munged === '') return Math.random().toString(36).slice(2).padEnd(31, 'x').slice(0, 31);
  return munged.slice(0, 31);
}

function columns(db: EmulatorDb): Columns<GroupRow> {
  return {
    id: idColumn(db.groups),
    name: textColumn((g) => g.name, (key) => db.by.groupName.get(key)),
    title: textColumn((g) => g.title, (key) => db.by.groupTitle.get(key)),
    description: textColumn((g) => g.description),
    source: textColumn((g) => g.source, (key) => db.by.groupSource.get(key)),
    group_type: { kind: 'list', read: (g) => g.group_type },
    is_active: boolColumn((g) => g.is_active),
    visibility: textColumn((g) => g.visibility),
    is_hidden: boolColumn((g) => g.is_hidden),
    is_reserved: boolColumn((g) => g.is_reserved),
    created_id: intColumn((g) => g.created_id),
    modified_id: intColumn((g) => g.modified_id),
  };
}

/** The UNIQUE keys on name and title, compared as MySQL compares them. */
function assertUnique(db: EmulatorDb, id: number | undefined, name: string, title: string): void {
  const clash = (rows: readonly GroupRow[]): boolean => rows.some((g) => g.id !== id);
  if (clash(db.by.groupName.get(collationKey(name))) || clash(db.by.groupTitle.get(collationKey(title)))) {
    throw dbError('already exists');
  }
}

function create(params: Params, ctx: ApiContext): unknown {
  const { db, actingContactId, version } = ctx;
  const id = optionalId(params);
  const patch: Patch<GroupRow> = {};
  const name = text(params, 'name', 64);
  const title = text(params, 'title', 255);
  const description = text(params, 'description');
  const source = text(params, 'source', 64);
  if (name) patch.name = name;
  if (title !== undefined && title !== null) patch.title = title;
  if (description !== undefined) patch.description = description;
  if (source !== undefined) patch.source = source;
  if (params['visibility'] !== undefined) patch.visibility = option(params['visibility'], VISIBILITY, 'visibility');
  if (params['group_type'] !== undefined) patch.group_type = groupTypes(params['group_type'], version);
  if (params['is_active'] !== undefined) patch.is_active = toBool(params['is_active']);

  if (id !== undefined) {
    const old = db.groups.get(id);
    // The BAO saves with an id that matches no row: nothing changes, yet the call succeeds.
    if (!old) return successRecords([toApiRecord({ ...patch, id, modified_id: actingContactId })], params);
    assertUnique(db, id, patch.name ?? old.name, patch.title ?? old.title);
    const row = db.groups.update(id, { ...patch, modified_id: actingContactId });
    return successRecords([toApiRecord(row, FIELDS)], params);
  }

  const newId = db.groups.peekNextId();
  // Without a name the BAO derives one from the title and appends the new id.
  const groupName = patch.name ?? `${titleToVar(patch.title ?? '')}_${newId}`;
  assertUnique(db, undefined, groupName, patch.title ?? '');
  const row = db.groups.insert({
    id: newId,
    name: groupName,
    title: patch.title ?? '',
    description: patch.description ?? null,
    source: patch.source ?? null,
    group_type: patch.group_type ?? [],
    is_active: patch.is_active ?? true,
    visibility: patch.visibility ?? 'User and User Admin Only',
    is_hidden: false,
    is_reserved: false,
    created_id: actingContactId,
    modified_id: null,
  });
  return successRecords([toApiRecord(row, FIELDS)], params);
}

function get(params: Params, db: EmulatorDb): unknown {
  const filters = { ...params };
  // A group_type filter is matched exactly against the stored set (dev/core#1321).
  const gt = filters['group_type'];
  if (gt !== undefined && gt !== null && (typeof gt !== 'object' || Array.isArray(gt))) {
    filters['group_type'] = groupTypes(gt, GROUP_TYPE_LIST_FIX);
  }
  const { rows, options } = select(() => db.groups, columns(db), filters, byId);
  return successRecords(rows.map((g) => toApiRecord(g, options.fields ?? FIELDS)), params);
}

/** CRM_Contact_BAO_Group::discard: the group goes with its memberships and ACL entity roles. */
function remove(params: Params, db: EmulatorDb): unknown {
  const id = params['id'];
  const group = isIntegerLike(id) ? db.groups.get(Number(id)) : undefined;
  if (!group) throw new ApiError(`Could not delete group ${String(id)}`);
  for (const gc of db.by.groupMembers.get(String(group.id))) db.groupContacts.delete(gc.id);
  for (const role of db.by.aclEntityRoleTarget.get(`civicrm_group:${group.id}`)) db.aclEntityRoles.delete(role.id);
  db.groups.delete(group.id);
  return successFlag(true);
}

export const groupEntity: EntityDef = {
  name: 'Group',
  idAlias: true,
  actions: {
    get: { run: (params, ctx) => get(params, ctx.db) },
    create: {
      required: ['title'],
      defaults: { is_active: 1 },
      run: create,
    },
    delete: { required: ['id'], run: (params, ctx) => remove(params, ctx.db) },
  },
};
