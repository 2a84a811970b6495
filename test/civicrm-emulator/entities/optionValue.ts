/**
 * OptionValue (civicrm_option_value): api/v3/OptionValue.php over
 * CRM_Core_BAO_OptionValue (CRM/Core/BAO/OptionValue.php), read at 5.69 and 6.14. ACL roles are the
 * values of option group `acl_role`.
 */
import { sameText } from '../collation.js';
import type { EmulatorDb, OptionValueRow } from '../db.js';
import { successFlag, successRecords, toApiRecord, type Params } from '../envelope.js';
import { ApiError, invalidOption } from '../errors.js';
import { isEmpty, type EntityDef } from '../kernel.js';
import { select, type Columns } from '../query.js';
import type { Patch } from '../table.js';
import { boolColumn, byId, idColumn, intColumn, isIntegerLike, optionalId, text, textColumn, toBool, toInt } from './fields.js';

const FIELDS = [
  'id', 'option_group_id', 'label', 'value', 'name', 'filter', 'is_default', 'weight', 'description',
  'is_optgroup', 'is_reserved', 'is_active',
] as const;

/** option_group_id is a pseudoconstant (xml/schema/Core/OptionValue.xml, 5.69): the group's name works as well as its id. */
function groupId(db: EmulatorDb, value: unknown): number {
  if (isIntegerLike(value)) return Number(value);
  const id = db.optionGroupId(String(value));
  if (id === undefined) throw invalidOption(value, 'option_group_id');
  return id;
}

function columns(db: EmulatorDb): Columns<OptionValueRow> {
  return {
    id: idColumn(db.optionValues),
    option_group_id: intColumn((ov) => ov.option_group_id, (v) => db.by.optionGroupValues.get(v)),
    label: textColumn((ov) => ov.label),
    value: textColumn((ov) => ov.value),
    name: textColumn((ov) => ov.name),
    description: textColumn((ov) => ov.description),
    weight: intColumn((ov) => ov.weight),
    is_active: boolColumn((ov) => ov.is_active),
    is_default: boolColumn((ov) => ov.is_default),
    is_reserved: boolColumn((ov) => ov.is_reserved),
  };
}

function record(ov: OptionValueRow, fields: readonly string[]): Params {
  return toApiRecord({ ...ov, is_optgroup: false }, fields);
}

function get(params: Params, db: EmulatorDb): unknown {
  const filters = { ...params };
  const og = filters['option_group_id'];
  if (og !== undefined && og !== null && typeof og !== 'object') filters['option_group_id'] = groupId(db, og);
  const { rows, options } = select(() => db.optionValues, columns(db), filters, byId);
  return successRecords(rows.map((ov) => record(ov, options.fields ?? FIELDS)), params);
}

/**
 * CRM_Utils_String::titleToVar with its default length of 31 (CRM/Utils/String.php, 5.69); munge's
 * random fallback for a label with no ASCII letter or digit is not modelled.
 */
function titleToVar(title: string): string {
  return title.trim().replace(/[^a-zA-Z0-9]+/g, '_').slice(0, 31);
}

/**
 * CRM_Core_BAO_OptionValue::getDefaultValue (5.69): one more than the highest value of the group
 * matching `^[0-9]+$`, 1 when there is none.
 */
function nextValue(db: EmulatorDb, optionGroupId: number): string {
  const numeric = db.by.optionGroupValues
    .get(String(optionGroupId))
    .filter((ov) => /^[0-9]+$/.test(ov.value))
    .map((ov) => Number(ov.value));
  return String(Math.max(0, ...numeric) + 1);
}

function create(params: Params, db: EmulatorDb): unknown {
  const id = optionalId(params);
  // varchar lengths from xml/schema/Core/OptionValue.xml (5.69).
  const label = text(params, 'label', 512);
  const name = text(params, 'name', 255);
  const value = text(params, 'value', 512);
  const description = text(params, 'description');
  const patch: Patch<OptionValueRow> = {};
  if (params['option_group_id'] !== undefined) patch.option_group_id = groupId(db, params['option_group_id']);
  if (label != null) patch.label = label;
  if (name != null) patch.name = name;
  if (value != null) patch.value = value;
  if (description !== undefined) patch.description = description;
  if (params['weight'] !== undefined) patch.weight = toInt(params['weight'], 'weight');
  for (const flag of ['is_active', 'is_default', 'is_reserved'] as const) {
    if (params[flag] !== undefined) patch[flag] = toBool(params[flag]);
  }

  if (id !== undefined) {
    const old = db.optionValues.get(id);
    // Saving with an id that matches no row changes nothing but still succeeds: _civicrm_api3_basic_create
    // echoes the saved object without reading it back (api/v3/utils.php, 5.69).
    if (!old) return successRecords([toApiRecord({ ...patch, id })], params);
    return successRecords([record(db.optionValues.update(id, patch), FIELDS)], params);
  }

  const optionGroupId = patch.option_group_id!;
  const siblings = db.by.optionGroupValues.get(String(optionGroupId));
  // CRM_Core_BAO_OptionValue::add (5.69): a new row with a given value must not repeat one of its
  // group (looked up by value, so compared as MySQL compares).
  if (!isEmpty(value) && siblings.some((ov) => sameText(ov.value, value!))) {
    throw new ApiError('Value already exists in the database');
  }
  // CRM_Core_BAO_OptionValue::setDefaults (5.69): label and name stand in for each other; weight
  // (CRM_Utils_Weight::getDefaultWeight, max + 1) and value come next in line.
  const finalLabel = patch.label ?? patch.name ?? '';
  const row = db.optionValues.insert({
    option_group_id: optionGroupId,
    label: finalLabel,
    name: patch.name ?? titleToVar(finalLabel),
    value: patch.value ?? nextValue(db, optionGroupId),
    description: patch.description ?? null,
    weight: patch.weight ?? Math.max(0, ...siblings.map((ov) => ov.weight)) + 1,
    is_active: patch.is_active ?? true,
    is_default: patch.is_default ?? false,
    is_reserved: patch.is_reserved ?? false,
    filter: 0,
  });
  return successRecords([record(row, FIELDS)], params);
}

/** civicrm_api3_option_value_delete → CRM_Core_DAO::deleteRecord's message (api/v3/OptionValue.php, CRM/Core/DAO.php, 5.69 and 6.14). */
function remove(params: Params, db: EmulatorDb): unknown {
  const id = params['id'];
  if (!isIntegerLike(id) || !db.optionValues.delete(Number(id))) {
    throw new ApiError(`Could not delete OptionValue id ${String(id)}`);
  }
  return successFlag(1);
}

export const optionValueEntity: EntityDef = {
  name: 'OptionValue',
  idAlias: true,
  actions: {
    // _civicrm_api3_option_value_get_spec and _create_spec (api/v3/OptionValue.php, 5.69).
    get: { aliases: { option_group_name: 'option_group_id' }, run: (params, ctx) => get(params, ctx.db) },
    create: { required: ['option_group_id'], defaults: { is_active: 1 }, run: (params, ctx) => create(params, ctx.db) },
    delete: { required: ['id'], run: (params, ctx) => remove(params, ctx.db) },
  },
};
