/** Group (civicrm_group): api/v3/Group.php over CRM_Contact_BAO_Group (read at 5.69 and 6.14). */
import { collationKey } from '../collation.js';
import type { EmulatorDb, GroupRow } from '../db.js';
import { successFlag, successRecords, toApiRecord, type Params } from '../envelope.js';
import { ApiError, dbError } from '../errors.js';
import type { ApiContext, EntityDef } from '../kernel.js';
import { versionAtLeast } from '../version.js';
import { select, type Columns } from '../query.js';
import type { Patch } from '../table.js';
import { boolColumn, byId, idColumn, intColumn, isIntegerLike, option, optionalId, text, textColumn, toBool } from './fields.js';

/** sql/civicrm_data/civicrm_option_group/group_type.sqldata.php (5.69). */
const GROUP_TYPES: Readonly<Record<string, string>> = { '1': 'Access Control', '2': 'Mailing List' };
/** CRM_Core_SelectValues::groupVisibility, the column's pseudoconstant (xml/schema/Contact/Group.xml, 5.69). */
const VISIBILITY: Readonly<Record<string, string>> = {
  'User and User Admin Only': 'User and User Admin Only',
  'Public Pages': 'Public Pages',
};

const FIELDS = [
  'id', 'name', 'title', 'description', 'source', 'is_active', 'visibility', 'group_type',
  'is_hidden', 'is_reserved', 'created_id', 'modified_id',
] as const;

/**
 * How CRM_Contact_BAO_Group::create stored an array group_type (CRM/Contact/BAO/Group.php, git
 * history of civicrm-core):
 * - until CRM-18591 (merged July 2016 when master was 4.7.11; on the 4.6 branch from 4.6.22) by
 *   `array_keys()`: a list `[2]` became type 0, only the checkbox form `{"2": 1}` came out right;
 * - from then by its values: a list was right and `{"2": 1}` stored type 1 (read at 4.6.36 and on
 *   master at 4.7.16's version bump);
 * - from 4.7.16 (fb413e82fa, merged 2017-01-03) through CRM_Utils_Array::convertCheckboxFormatToArray,
 *   so both forms work (read at 5.69; 6.14 does the same in self_hook_civicrm_pre).
 * The emulator plays the `array_keys()` behaviour for every release before 4.7.16, which is right
 * only before CRM-18591.
 */
export const GROUP_TYPE_LIST_FIX = '4.7.16';

/**
 * group_type as CiviCRM accepts it: a list `[1, 2]`, checkbox form `{"2": 1}`, a
 * single value, option labels, or a CTRL-A separated string. Each value must be an
 * option: a comma string is one (invalid) value, since API validation runs first
 * (_civicrm_api3_api_match_pseudoconstant explodes only CTRL-A strings, api/v3/utils.php, 5.69).
 * From 4.7.16 a list is kept and a checkbox map is reduced to its keys
 * (CRM_Utils_Array::convertCheckboxFormatToArray, 5.69; it keeps a map as it is unless every value
 * is 1, where the emulator always takes the keys); before, see GROUP_TYPE_LIST_FIX.
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

/**
 * CRM_Utils_String::titleToVar → munge (CRM/Utils/String.php, 5.69): runs of anything but ASCII
 * letters and digits become `_`, at most 31 characters, a random string when nothing is left.
 */
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

/** The UNIQUE keys UI_name and UI_title (xml/schema/Contact/Group.xml, 5.69), compared as MySQL compares them. */
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
  // varchar lengths from xml/schema/Contact/Group.xml (5.69).
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
    // The BAO saves with an id that matches no row: nothing changes, yet the call succeeds, since
    // _civicrm_api3_basic_create echoes the saved object without reading it back (api/v3/utils.php,
    // 5.69); the UPDATE itself touching no row is MySQL's part, not read here.
    if (!old) return successRecords([toApiRecord({ ...patch, id, modified_id: actingContactId })], params);
    assertUnique(db, id, patch.name ?? old.name, patch.title ?? old.title);
    const row = db.groups.update(id, { ...patch, modified_id: actingContactId });
    return successRecords([toApiRecord(row, FIELDS)], params);
  }

  const newId = db.groups.peekNextId();
  // Without a name the BAO derives one from the title (titleToVar), saves it with `_tmp` and then
  // swaps that for `_<id>` (CRM_Contact_BAO_Group::create, 5.69; self_hook_civicrm_post does the
  // swap at 6.14). created_id is the session's contact (create, 5.69), modified_id on updates.
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
  // A group_type filter is matched exactly against the stored set (dev/core#1321; shown by
  // testGroupWithGroupTypeFilter in tests/phpunit/api/v3/GroupTest.php, since 5.20, still at 6.14).
  const gt = filters['group_type'];
  if (gt !== undefined && gt !== null && (typeof gt !== 'object' || Array.isArray(gt))) {
    filters['group_type'] = groupTypes(gt, GROUP_TYPE_LIST_FIX);
  }
  const { rows, options } = select(() => db.groups, columns(db), filters, byId);
  return successRecords(rows.map((g) => toApiRecord(g, options.fields ?? FIELDS)), params);
}

/**
 * CRM_Contact_BAO_Group::discard (5.69): the group goes with its memberships and ACL entity roles
 * (and subscription history, mailing and campaign links, which the emulator does not keep).
 * civicrm_api3_group_delete first looks the group up and says `Could not delete group N`
 * (api/v3/Group.php, 5.69), then answers create_success(TRUE).
 */
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
    // _civicrm_api3_group_create_spec (api/v3/Group.php, 5.69).
    create: {
      required: ['title'],
      defaults: { is_active: 1 },
      run: create,
    },
    delete: { required: ['id'], run: (params, ctx) => remove(params, ctx.db) },
  },
};
