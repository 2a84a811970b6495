/**
 * UFMatch (civicrm_uf_match, the CMS user ↔ contact link): api/v3/UFMatch.php over
 * CRM_Core_BAO_UFMatch (CRM/Core/BAO/UFMatch.php), read at 5.69 and 6.14.
 */
import { collationKey, sameText } from '../collation.js';
import { DOMAIN_ID, type EmulatorDb, type UFMatchRow } from '../db.js';
import { successFlag, successRecords, toApiRecord, type Params } from '../envelope.js';
import { ApiError, dbError, invalidReference } from '../errors.js';
import type { ApiContext, EntityDef } from '../kernel.js';
import { select, type Columns } from '../query.js';
import { versionAtLeast } from '../version.js';
import { byId, idColumn, intColumn, isIntegerLike, optionalId, text, textColumn, toInt } from './fields.js';

const FIELDS = ['id', 'domain_id', 'uf_id', 'uf_name', 'contact_id'] as const;

function columns(db: EmulatorDb): Columns<UFMatchRow> {
  return {
    id: idColumn(db.ufMatches),
    domain_id: intColumn((u) => u.domain_id),
    uf_id: intColumn((u) => u.uf_id, (v) => db.by.ufId.get(`${DOMAIN_ID}:${Number(v)}`)),
    uf_name: textColumn((u) => u.uf_name, (key) => db.by.ufName.get(`${DOMAIN_ID}:${key}`)),
    contact_id: intColumn((u) => u.contact_id, (v) => db.by.ufContact.get(`${DOMAIN_ID}:${Number(v)}`)),
  };
}

function get(params: Params, db: EmulatorDb): unknown {
  const { rows, options } = select(() => db.ufMatches, columns(db), params, byId);
  return successRecords(rows.map((u) => toApiRecord(u, options.fields ?? FIELDS)), params);
}

/**
 * UNIQUE (uf_name, domain_id) and (contact_id, domain_id) are old (UI_uf_name_domain_id since 2.1,
 * UI_contact_domain_id since 1.6: xml/schema/Core/UFMatch.xml, 5.69). (uf_id, domain_id) is
 * UI_uf_match_uf_id_domain_id, added in 5.69 (e11f2dc3ea), but not as the emulator has it: the
 * schema declares it without `unique` (so a fresh install's index is not unique; also so at 6.14),
 * and on an existing site the system check CRM_Utils_Check_Component_Cms::checkUfMatchUnique adds
 * it as UNIQUE through CRM_Core_BAO_UFMatch::tryToAddUniqueIndexOnUfId, only when no index of that
 * name exists yet and there are no duplicate uf_ids. The emulator enforces it from 5.69 on always.
 */
function assertUnique(db: EmulatorDb, ctx: ApiContext, row: Omit<UFMatchRow, 'id'>, self: number | undefined): void {
  const others = (rows: readonly UFMatchRow[]): boolean => rows.some((u) => u.id !== self);
  const d = row.domain_id;
  if (
    others(db.by.ufName.get(`${d}:${collationKey(row.uf_name)}`)) ||
    others(db.by.ufContact.get(`${d}:${row.contact_id}`)) ||
    (versionAtLeast(ctx.version, '5.69') && others(db.by.ufId.get(`${d}:${row.uf_id}`)))
  ) {
    throw dbError('already exists');
  }
}

function create(params: Params, ctx: ApiContext): unknown {
  const { db } = ctx;
  const id = optionalId(params);
  const old = id === undefined ? undefined : db.ufMatches.get(id);
  // varchar(128) (xml/schema/Core/UFMatch.xml, 5.69); the domain defaults to the current one (BAO create).
  const ufName = text(params, 'uf_name', 128);
  const row: Omit<UFMatchRow, 'id'> = {
    domain_id: params['domain_id'] === undefined ? old?.domain_id ?? DOMAIN_ID : toInt(params['domain_id'], 'domain_id'),
    uf_id: params['uf_id'] === undefined ? old?.uf_id ?? 0 : toInt(params['uf_id'], 'uf_id'),
    uf_name: ufName ?? old?.uf_name ?? '',
    contact_id: params['contact_id'] === undefined ? old?.contact_id ?? 0 : toInt(params['contact_id'], 'contact_id'),
  };
  // CRM_Core_BAO_UFMatch::create (5.69, 6.14) copies the params onto a DAO and find()s first: a row
  // with exactly these values (the id too, when given) is returned unchanged; only otherwise is it
  // saved, an UPDATE when an id is given.
  const same = db.by.ufId
    .get(`${row.domain_id}:${row.uf_id}`)
    .find((u) => u.contact_id === row.contact_id && sameText(u.uf_name, row.uf_name) && (id === undefined || u.id === id));
  if (same) return successRecords([toApiRecord(same, FIELDS)], params);
  if (id !== undefined && !old) return successRecords([toApiRecord({ ...row, id }, FIELDS)], params);
  // The contact_id foreign key; Kernel::createError then names the field (see invalidReference).
  if (!db.contacts.get(row.contact_id)) throw invalidReference('contact_id', row.contact_id);
  assertUnique(db, ctx, row, id);
  const saved = id === undefined ? db.ufMatches.insert(row) : db.ufMatches.update(id, row);
  return successRecords([toApiRecord(saved, FIELDS)], params);
}

/**
 * _civicrm_api3_basic_delete's message for a `del` that finds no row. CRM_Core_BAO_UFMatch has no
 * `del` at 5.69 or 6.14, so CiviCRM goes through CRM_Core_DAO::deleteRecord and says
 * `Could not delete UFMatch id N` (CRM/Core/DAO.php).
 */
function remove(params: Params, db: EmulatorDb): unknown {
  const id = params['id'];
  if (!isIntegerLike(id) || !db.ufMatches.delete(Number(id))) throw new ApiError(`Could not delete entity id ${String(id)}`);
  return successFlag(1);
}

export const ufMatchEntity: EntityDef = {
  name: 'UFMatch',
  idAlias: true,
  actions: {
    get: { run: (params, ctx) => get(params, ctx.db) },
    // _civicrm_api3_uf_match_create_spec (api/v3/UFMatch.php, 5.69).
    create: { required: ['uf_id', 'uf_name', 'contact_id'], run: create },
    delete: { required: ['id'], run: (params, ctx) => remove(params, ctx.db) },
  },
};
