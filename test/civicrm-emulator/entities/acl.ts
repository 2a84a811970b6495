/**
 * Acl (civicrm_acl) and AclRole (civicrm_acl_entity_role): api/v3/Acl.php and
 * api/v3/AclRole.php, both plain basic_create/get/delete over their DAOs (read at 5.69 and 6.14).
 */
import type { AclEntityRoleRow, AclRow, EmulatorDb } from '../db.js';
import { successFlag, successRecords, toApiRecord, type Params } from '../envelope.js';
import { ApiError, dbError, invalidOption } from '../errors.js';
import { isEmpty, type ApiContext, type EntityDef } from '../kernel.js';
import { select, type Columns } from '../query.js';
import type { Patch } from '../table.js';
import { versionAtLeast } from '../version.js';
import { boolColumn, byId, idColumn, intColumn, isIntegerLike, option, optionalId, text, textColumn, toBool, toInt } from './fields.js';

/**
 * The release whose upgrade moved group ACLs from civicrm_saved_search to civicrm_group and added
 * `priority` (CRM/Upgrade/Incremental/sql/5.64.alpha1.mysql.tpl and php/FiveSixtyFour.php; 5.63's
 * CRM/ACL/DAO/ACL.php has neither `priority` nor an object_table option list).
 */
export const GROUP_ACL_TABLE_CHANGE = '5.64';

/** CRM_ACL_BAO_ACL::operation() (CRM/ACL/BAO/ACL.php, 5.69). */
const OPERATIONS: Readonly<Record<string, string>> = {
  All: 'All', View: 'View', Edit: 'Edit', Create: 'Create', Delete: 'Delete', Search: 'Search',
};

/** What a group ACL's object_table must be in a given version. */
export function groupAclTable(version: string): string {
  return versionAtLeast(version, GROUP_ACL_TABLE_CHANGE) ? 'civicrm_group' : 'civicrm_saved_search';
}

/**
 * 5.64+ validates object_table against CRM_ACL_BAO_ACL::getObjectTableOptions() (the column's
 * pseudoconstant in CRM/ACL/DAO/ACL.php from 5.64; read at 5.64, 5.69 and 6.14).
 * Earlier versions took any string of up to 64 characters but only honoured civicrm_saved_search
 * for groups (CRM/ACL/BAO/ACL.php and CRM/ACL/API.php at 5.63). The refusal before 5.64, and its
 * message, are the emulator's own: it turns down the wrong era's table so a client notices.
 */
function objectTable(value: unknown, version: string): string {
  const table = String(value);
  const modern = versionAtLeast(version, GROUP_ACL_TABLE_CHANGE);
  const others = ['civicrm_uf_group', 'civicrm_event', 'civicrm_custom_group'];
  if (table === groupAclTable(version) || others.includes(table)) return table;
  if (modern) {
    const err = invalidOption(value, 'object_table');
    throw new ApiError(`${err.message} (CiviCRM ${version}: group ACLs use civicrm_group since ${GROUP_ACL_TABLE_CHANGE})`, err.code, err.extra);
  }
  throw new ApiError(
    `'${table}' is not a valid object_table for CiviCRM ${version}: group ACLs use civicrm_saved_search before ${GROUP_ACL_TABLE_CHANGE}`,
    2001,
    { error_field: 'object_table' },
  );
}

function aclFields(version: string): readonly string[] {
  const fields = ['id', 'name', 'deny', 'entity_table', 'entity_id', 'operation', 'object_table', 'object_id', 'is_active'];
  return versionAtLeast(version, GROUP_ACL_TABLE_CHANGE) ? [...fields, 'priority'] : fields;
}

function aclColumns(db: EmulatorDb, version: string): Columns<AclRow> {
  const columns: Columns<AclRow> = {
    id: idColumn(db.acls),
    name: textColumn((a) => a.name),
    deny: boolColumn((a) => a.deny),
    entity_table: textColumn((a) => a.entity_table),
    entity_id: intColumn((a) => a.entity_id),
    operation: textColumn((a) => a.operation),
    object_table: textColumn((a) => a.object_table),
    object_id: intColumn((a) => a.object_id),
    is_active: boolColumn((a) => a.is_active),
  };
  return versionAtLeast(version, GROUP_ACL_TABLE_CHANGE) ? { ...columns, priority: intColumn((a) => a.priority) } : columns;
}

function intOrNull(params: Params, field: string): number | null | undefined {
  const value = params[field];
  return value === undefined ? undefined : isEmpty(value) && value !== 0 && value !== '0' ? null : toInt(value, field);
}

function createAcl(params: Params, ctx: ApiContext): unknown {
  const { db, version } = ctx;
  const id = optionalId(params);
  const patch: Patch<AclRow> = {};
  const name = text(params, 'name', 64);
  if (name !== undefined) patch.name = name;
  const entityTable = text(params, 'entity_table', 64);
  if (entityTable != null) patch.entity_table = entityTable;
  if (params['operation'] !== undefined) patch.operation = option(params['operation'], OPERATIONS, 'operation');
  if (params['object_table'] !== undefined) patch.object_table = objectTable(params['object_table'], version);
  const entityId = intOrNull(params, 'entity_id');
  if (entityId !== undefined) patch.entity_id = entityId;
  const objectId = intOrNull(params, 'object_id');
  if (objectId !== undefined) patch.object_id = objectId;
  if (params['deny'] !== undefined) patch.deny = toBool(params['deny']);
  if (params['is_active'] !== undefined) patch.is_active = toBool(params['is_active']);
  // Before 5.64 the column does not exist and the value is dropped (no such field in 5.63's DAO).
  if (params['priority'] !== undefined && versionAtLeast(version, GROUP_ACL_TABLE_CHANGE)) {
    patch.priority = toInt(params['priority'], 'priority');
  }
  const fields = aclFields(version);

  if (id !== undefined) {
    if (!db.acls.get(id)) return successRecords([toApiRecord({ ...patch, id }, fields)], params);
    return successRecords([toApiRecord(db.acls.update(id, patch), fields)], params);
  }
  // NOT NULL columns without a default: entity_table and operation ('required' in
  // CRM/ACL/DAO/ACL.php, 5.69). object_table is nullable there (also in 6.14's schema); requiring
  // it is the emulator's own. The words are PEAR DB's DB_ERROR_CONSTRAINT_NOT_NULL, which its mysqli
  // driver never produces (pear/db v1.11.0 maps 1048 to `constraint violation`).
  if (patch.operation === undefined || patch.object_table === undefined || patch.entity_table === undefined) {
    throw dbError('null value violates not-null constraint');
  }
  const row = db.acls.insert({
    name: patch.name ?? null,
    deny: patch.deny ?? false,
    entity_table: patch.entity_table,
    entity_id: patch.entity_id ?? null,
    operation: patch.operation,
    object_table: patch.object_table,
    object_id: patch.object_id ?? null,
    is_active: patch.is_active ?? true,
    priority: patch.priority ?? 0,
  });
  return successRecords([toApiRecord(row, fields)], params);
}

const ROLE_FIELDS = ['id', 'acl_role_id', 'entity_table', 'entity_id', 'is_active'] as const;
/** CRM_ACL_BAO_ACLEntityRole::entityTables() (CRM/ACL/BAO/ACLEntityRole.php, 5.69). */
const ROLE_TABLES: Readonly<Record<string, string>> = { civicrm_group: 'Group', civicrm_contact: 'Contact' };

function roleColumns(db: EmulatorDb): Columns<AclEntityRoleRow> {
  return {
    id: idColumn(db.aclEntityRoles),
    acl_role_id: intColumn((r) => r.acl_role_id),
    entity_table: textColumn((r) => r.entity_table),
    entity_id: intColumn((r) => r.entity_id),
    is_active: boolColumn((r) => r.is_active),
  };
}

/**
 * acl_role_id is an option of the `acl_role` group (CRM/ACL/DAO/ACLEntityRole.php at 5.69,
 * schema/ACL/ACLEntityRole.entityType.php at 6.14: pseudoconstant option group acl_role), checked
 * as every pseudoconstant is (_civicrm_api3_api_match_pseudoconstant, api/v3/utils.php, 5.69): a
 * value that is not there, say of a role deleted by hand, is "'N' is not a valid option for field
 * acl_role_id". Disabled options still count: validation asks for the `validate` context, which
 * CRM_Core_PseudoConstant::get reads without onlyActive (CRM/Core/PseudoConstant.php, 5.69).
 */
function roleValue(value: unknown, db: EmulatorDb): number {
  const values = Object.fromEntries(db.optionValuesOf('acl_role').map((v) => [v.value, v.label]));
  return Number(option(toInt(value, 'acl_role_id'), values, 'acl_role_id'));
}

function createRole(params: Params, db: EmulatorDb): unknown {
  const id = optionalId(params);
  const patch: Patch<AclEntityRoleRow> = {};
  if (params['acl_role_id'] !== undefined) patch.acl_role_id = roleValue(params['acl_role_id'], db);
  if (params['entity_table'] !== undefined) patch.entity_table = option(params['entity_table'], ROLE_TABLES, 'entity_table');
  if (params['entity_id'] !== undefined) patch.entity_id = toInt(params['entity_id'], 'entity_id');
  if (params['is_active'] !== undefined) patch.is_active = toBool(params['is_active']);

  if (id !== undefined) {
    if (!db.aclEntityRoles.get(id)) return successRecords([toApiRecord({ ...patch, id }, ROLE_FIELDS)], params);
    return successRecords([toApiRecord(db.aclEntityRoles.update(id, patch), ROLE_FIELDS)], params);
  }
  if (patch.acl_role_id === undefined || patch.entity_table === undefined || patch.entity_id === undefined) {
    throw dbError('null value violates not-null constraint');
  }
  const row = db.aclEntityRoles.insert({
    acl_role_id: patch.acl_role_id,
    entity_table: patch.entity_table,
    entity_id: patch.entity_id,
    is_active: patch.is_active ?? true,
  });
  return successRecords([toApiRecord(row, ROLE_FIELDS)], params);
}

/**
 * _civicrm_api3_basic_delete's message when a BAO `del` finds no row. At 5.69 and 6.14 the ACL and
 * ACLEntityRole `del` methods are deprecated, so basic_delete calls CRM_Core_DAO::deleteRecord,
 * which says `Could not delete ACL id N` / `Could not delete ACLEntityRole id N` (CRM/Core/DAO.php).
 */
function basicDelete(params: Params, remove: (id: number) => unknown): unknown {
  const id = params['id'];
  if (!isIntegerLike(id) || !remove(Number(id))) throw new ApiError(`Could not delete entity id ${String(id)}`);
  return successFlag(1);
}

export const aclEntity: EntityDef = {
  name: 'Acl',
  idAlias: true,
  actions: {
    get: {
      run: (params, ctx) => {
        const { rows, options } = select(() => ctx.db.acls, aclColumns(ctx.db, ctx.version), params, byId);
        return successRecords(rows.map((a) => toApiRecord(a, options.fields ?? aclFields(ctx.version))), params);
      },
    },
    // _civicrm_api3_acl_create_spec (api/v3/Acl.php, 5.69).
    create: { defaults: { is_active: 1, entity_table: 'civicrm_acl_role' }, run: createAcl },
    delete: {
      required: ['id'],
      run: (params, ctx) => {
        const done = basicDelete(params, (id) => ctx.db.acls.delete(id));
        // CRM_ACL_BAO_ACL::self_hook_civicrm_pre resets the ACL cache on delete, and only then (5.69, 6.14).
        ctx.db.aclCache.reset();
        return done;
      },
    },
  },
};

/**
 * civicrm_acl_entity_role through API v3, which knows it only as AclRole (API4 calls it
 * ACLEntityRole; _civicrm_api3_get_DAO maps AclRole to CRM_ACL_DAO_ACLEntityRole, api/v3/utils.php,
 * 5.69). Its `acl_role_id` is taken for the record's id unless an `id` is
 * given too — `id: 0` for a create — see the kernel's alias handling.
 */
export const aclRoleEntity: EntityDef = {
  name: 'AclRole',
  idAlias: true,
  actions: {
    get: {
      run: (params, ctx) => {
        const { rows, options } = select(() => ctx.db.aclEntityRoles, roleColumns(ctx.db), params, byId);
        return successRecords(rows.map((r) => toApiRecord(r, options.fields ?? ROLE_FIELDS)), params);
      },
    },
    // _civicrm_api3_acl_role_create_spec (api/v3/AclRole.php, 5.69).
    create: { defaults: { is_active: 1 }, run: (params, ctx) => createRole(params, ctx.db) },
    delete: { required: ['id'], run: (params, ctx) => basicDelete(params, (id) => ctx.db.aclEntityRoles.delete(id)) },
  },
};
