/**
 * GroupContact (civicrm_group_contact): api/v3/GroupContact.php over
 * CRM_Contact_BAO_GroupContact::addContactsToGroup / removeContactsFromGroup
 * (CRM/Contact/BAO/GroupContact.php); both read at 5.69 and 6.14.
 */
import { compareText } from '../collation.js';
import { sqlNow, type EmulatorDb, type GroupContactRow, type GroupContactStatus } from '../db.js';
import { success, successFlag, successRecords, toApiRecord, type ApiRecord, type Params } from '../envelope.js';
import { ApiError, dbError, invalidOption, invalidReference } from '../errors.js';
import { failureOf, isEmpty, type ApiContext, type EntityDef } from '../kernel.js';
import { versionAtLeast } from '../version.js';
import { select, type Columns } from '../query.js';
import { byId, idColumn, intColumn, isIntegerLike, option, optionalId, textColumn, toInt } from './fields.js';

const STATUS: Readonly<Record<string, string>> = { Added: 'Added', Removed: 'Removed', Pending: 'Pending' };

/** 'Deleted' is no real status: GroupContact.delete uses it to remove rows outright. */
type Operation = GroupContactStatus | 'Deleted';

function columns(db: EmulatorDb): Columns<GroupContactRow> {
  return {
    id: idColumn(db.groupContacts),
    group_id: intColumn((gc) => gc.group_id, (v) => db.by.groupMembers.get(v)),
    contact_id: intColumn((gc) => gc.contact_id, (v) => db.by.contactMemberships.get(v)),
    status: textColumn((gc) => gc.status),
  };
}

/** civicrm_api3_group_contact_get (5.69, 6.14): without a contact_id, a basic get whose status defaults to Added. */
function get(params: Params, db: EmulatorDb): unknown {
  if (!isEmpty(params['contact_id'])) return groupsOfContact(params, db);
  const filters = { ...params };
  if (isEmpty(filters['status'])) filters['status'] = 'Added';
  const { rows, options } = select(() => db.groupContacts, columns(db), filters, byId);
  const fields = options.fields ?? ['id', 'group_id', 'contact_id', 'status'];
  return successRecords(rows.map((gc) => toApiRecord(gc, fields)), params);
}

function statusesOf(status: unknown): string[] | null {
  if (status === undefined || status === null) return ['Added'];
  if (isEmpty(status)) return null;
  if (typeof status === 'object' && !Array.isArray(status) && 'IN' in status) {
    return ((status as Params)['IN'] as unknown[]).map(String);
  }
  return [String(status)];
}

/**
 * With a contact_id CiviCRM answers from getContactGroup instead
 * (CRM_Contact_BAO_GroupContact::getContactGroup, called with ignorePermission and excludeHidden,
 * 5.69 and 6.14): the contact's memberships in active, visible, non-smart groups, ordered by group
 * title and then history date, with the group's title and visibility but no contact_id or status,
 * and no row limit. getContactGroup takes one status string; the `{"IN": […]}` form is
 * understood here only for the delete action's own checks.
 */
function groupsOfContact(params: Params, db: EmulatorDb): unknown {
  const contactId = params['contact_id'];
  if (!isIntegerLike(contactId)) {
    throw new ApiError('GroupContact.get takes a single contact_id (CiviCRM answers it from getContactGroup)');
  }
  const statuses = statusesOf(params['status']);
  const groupId = isEmpty(params['group_id']) ? null : toInt(params['group_id'], 'group_id');
  const found = db.by.contactMemberships
    .get(String(Number(contactId)))
    .filter((gc) => statuses === null || statuses.includes(gc.status))
    .filter((gc) => groupId === null || gc.group_id === groupId)
    .flatMap((gc) => {
      const group = db.groups.get(gc.group_id);
      return group?.is_active && !group.is_hidden ? [{ gc, group }] : [];
    })
    .sort((a, b) => compareText(a.group.title, b.group.title) || a.gc.date.localeCompare(b.gc.date));
  const entries = found.map(({ gc, group }) => {
    const prefix = gc.status === 'Added' ? 'in_' : gc.status === 'Removed' ? 'out_' : 'pending_';
    const record: ApiRecord = {
      id: String(gc.id),
      group_id: String(group.id),
      title: group.title,
      visibility: group.visibility,
      is_hidden: group.is_hidden ? '1' : '0',
      saved_search_id: null,
      [`${prefix}date`]: gc.date,
      [`${prefix}method`]: gc.method,
    };
    return [gc.id, record] as const;
  });
  return success(entries, params);
}

/** contact_id, contact_id.1, … and arrays of them, as _civicrm_api3_group_contact_common collects them (CRM-16959; 5.69, 6.14). */
function collectIds(params: Params, prefix: 'contact_id' | 'group_id'): number[] {
  const ids: number[] = [];
  for (const [key, value] of Object.entries(params)) {
    if (!key.startsWith(prefix)) continue;
    const values = typeof value === 'object' && value !== null ? Object.values(value) : [value];
    for (const v of values) ids.push(toInt(v, prefix));
  }
  return ids;
}

/**
 * group_id is a pseudoconstant over civicrm_group (xml/schema/Contact/GroupContact.xml at 5.69,
 * schema/Contact/GroupContact.entityType.php at 6.14), so API validation
 * (_civicrm_api3_api_match_pseudoconstant, api/v3/utils.php, 5.69) refuses a group that
 * is gone, say deleted by hand, before anything runs: "'12' is not a valid option for field
 * group_id", code 2001. Disabled groups still count (options are read in the `validate` context,
 * which CRM_Core_PseudoConstant::get reads without onlyActive, 5.69).
 */
function assertGroupOptions(db: EmulatorDb, groupIds: number[]): void {
  const gone = groupIds.find((id) => !db.groups.get(id));
  if (gone !== undefined) throw invalidOption(gone, 'group_id');
}

/**
 * The foreign keys fail the whole statement; Kernel::createError then re-runs
 * _civicrm_api3_validate_foreign_keys, which names the first bad id it finds (Civi/API/Kernel.php,
 * api/v3/utils.php, 5.69 and 6.14).
 */
function assertReferences(db: EmulatorDb, params: Params, groupIds: number[], contactIds: number[]): void {
  const badGroup = groupIds.find((id) => !db.groups.get(id));
  const badContact = contactIds.find((id) => !db.contacts.get(id));
  if (badGroup === undefined && badContact === undefined) return;
  for (const [field, exists] of [
    ['group_id', (id: number) => db.groups.get(id) !== undefined],
    ['contact_id', (id: number) => db.contacts.get(id) !== undefined],
  ] as const) {
    const given = params[field];
    const values = typeof given === 'object' && given !== null ? Object.values(given) : given === undefined ? [] : [given];
    const bad = values.find((v) => !exists(Number(v)));
    if (bad !== undefined) throw invalidReference(field, bad);
  }
  throw dbError('constraint violation');
}

/** Method `API` is _civicrm_api3_group_contact_common's default (5.69). */
function membershipRow(groupId: number, contactId: number, status: GroupContactStatus) {
  return { group_id: groupId, contact_id: contactId, status, date: sqlNow(), method: 'API' };
}

/**
 * bulkAddContactsToGroup (CRM/Contact/BAO/GroupContact.php, 5.69 and 6.14): contacts already in
 * the group with this status count as not added; the others go in by `REPLACE INTO`, so every
 * change gives the pair a new row id.
 */
function addToGroup(db: EmulatorDb, groupId: number, contactIds: number[], status: GroupContactStatus): [number, number] {
  const present = new Set(contactIds.filter((cid) => db.membership(groupId, cid)?.status === status));
  let added = 0;
  for (const cid of contactIds) {
    if (present.has(cid)) continue;
    const old = db.membership(groupId, cid);
    if (old) db.groupContacts.delete(old.id);
    db.groupContacts.insert(membershipRow(groupId, cid, status));
    added++;
  }
  return [added, contactIds.length - added];
}

/**
 * removeContactsFromGroup (5.69, 6.14): the row is updated in place; with no row a Removed row is
 * written anyway (CRM-3711). `Deleted` deletes the row and counts it neither way.
 */
function removeFromGroup(db: EmulatorDb, groupId: number, contactIds: number[], status: 'Removed' | 'Deleted'): [number, number] {
  let removed = 0;
  let notRemoved = 0;
  for (const cid of contactIds) {
    const row = db.membership(groupId, cid);
    if (status === 'Deleted') {
      if (row) db.groupContacts.delete(row.id);
      continue;
    }
    if (row && row.status !== status) removed++;
    else notRemoved++;
    if (row) db.groupContacts.update(row.id, { status, date: sqlNow(), method: 'API' });
    else db.groupContacts.insert(membershipRow(groupId, cid, status));
  }
  return [removed, notRemoved];
}

/**
 * CRM_Contact_BAO_Contact_Utils::clearContactCaches after every add and remove: the ACL cache
 * goes only in the `opportunistic` refresh mode from 5.37 (CRM_ACL_BAO_Cache::opportunisticCacheFlush;
 * read at 5.37, 5.69, 6.14), always before (resetCache at 5.36).
 */
function clearContactCaches(ctx: ApiContext): void {
  if (!versionAtLeast(ctx.version, '5.37') || ctx.db.settings.acl_cache_refresh_mode === 'opportunistic') ctx.db.aclCache.reset();
}

function create(params: Params, ctx: ApiContext, operation: Operation): unknown {
  const { db } = ctx;
  const groupIds = collectIds(params, 'group_id');
  const contactIds = collectIds(params, 'contact_id');
  assertGroupOptions(db, groupIds);
  if (contactIds.length > 0) assertReferences(db, params, groupIds, contactIds);
  let total = 0;
  let done = 0;
  let notDone = 0;
  for (const groupId of groupIds) {
    const [d, n] =
      operation === 'Added' || operation === 'Pending'
        ? addToGroup(db, groupId, contactIds, operation)
        : removeFromGroup(db, groupId, contactIds, operation);
    total += contactIds.length;
    done += d;
    notDone += n;
  }
  clearContactCaches(ctx);
  return operation === 'Added' || operation === 'Pending'
    ? successFlag(1, { total_count: total, added: done, not_added: notDone })
    : successFlag(1, { total_count: total, removed: done, not_removed: notDone });
}

/** An `id` stands for its group_id and contact_id (the BAO takes no id; civicrm_api3_group_contact_create, 5.69). */
function resolveId(params: Params, db: EmulatorDb): Params {
  const id = optionalId(params);
  const row = id === undefined ? undefined : db.groupContacts.get(id);
  return row ? { ...params, group_id: row.group_id, contact_id: row.contact_id } : params;
}

function createAction(params: Params, ctx: ApiContext): unknown {
  const status = params['status'] === undefined || params['status'] === null ? 'Added' : option(params['status'], STATUS, 'status');
  return create(resolveId(params, ctx.db), ctx, status as GroupContactStatus);
}

/**
 * The deprecated delete (civicrm_api3_group_contact_delete, 5.69 and 6.14): soft (status Removed)
 * unless `skip_undelete`, and only when a matching row exists in a status the change applies to.
 */
function deleteAction(params: Params, ctx: ApiContext): unknown {
  const check: Params = { ...params };
  const status = params['status'];
  if (status === 'Removed' || status === 'Deleted') check['status'] = { IN: ['Added', 'Pending'] };
  else if (status === 'Added') check['status'] = { IN: ['Pending', 'Removed'] };
  else if (!isEmpty(status)) delete check['status'];
  const count = (p: Params): number => {
    const result = ctx.call('GroupContact', 'get', p);
    const failure = failureOf(result);
    if (failure !== undefined) throw new ApiError(failure);
    return (result as { count: number }).count;
  };
  const first = count(check);
  if (first === 0 && !isEmpty(params['skip_undelete'])) check['status'] = { IN: ['Removed', 'Pending'] };
  if (first === 0 && count(check) === 0) throw new ApiError('Cannot Delete GroupContact');
  const operation = (status ?? (isEmpty(params['skip_undelete']) ? 'Removed' : 'Deleted')) as Operation;
  return create(resolveId(params, ctx.db), ctx, operation);
}

export const groupContactEntity: EntityDef = {
  name: 'GroupContact',
  idAlias: true,
  actions: {
    get: { run: (params, ctx) => get(params, ctx.db) },
    // _civicrm_api3_group_contact_create_spec (5.69).
    create: { required: ['group_id', 'contact_id'], run: createAction },
    delete: { run: deleteAction },
  },
};
