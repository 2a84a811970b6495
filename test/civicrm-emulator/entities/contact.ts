/** Contact (civicrm_contact + its primary civicrm_email): api/v3/Contact.php (read at 5.69 and 6.14). */
import { contactNames, type ContactRow, type EmulatorDb } from '../db.js';
import { success, successRecords, toApiRecord, type ApiRecord, type Params } from '../envelope.js';
import { ApiError, mandatoryMissing } from '../errors.js';
import { isEmpty, type ApiContext, type EntityDef } from '../kernel.js';
import { select, type Columns } from '../query.js';
import { boolColumn, byId, idColumn, option, optionalId, text, textColumn, toBool } from './fields.js';

const CONTACT_TYPES: Readonly<Record<string, string>> = {
  Individual: 'Individual',
  Organization: 'Organization',
  Household: 'Household',
};

/** What Contact.create echoes here: a subset of the civicrm_contact columns (never the api_key); the choice is the emulator's. */
const CREATE_FIELDS = ['id', 'contact_type', 'first_name', 'last_name', 'display_name', 'sort_name', 'is_deleted'] as const;

function columns(db: EmulatorDb): Columns<ContactRow> {
  const id = idColumn(db.contacts);
  const deleted = boolColumn<ContactRow>((c) => c.is_deleted);
  return {
    id,
    contact_id: id,
    contact_type: textColumn((c) => c.contact_type),
    first_name: textColumn((c) => c.first_name),
    last_name: textColumn((c) => c.last_name),
    display_name: textColumn((c) => c.display_name),
    sort_name: textColumn((c) => c.sort_name),
    is_deleted: deleted,
    contact_is_deleted: deleted,
    email: textColumn(
      (c) => db.primaryEmail(c.id)?.email ?? null,
      (key) => db.by.emailAddress.get(key).filter((e) => e.is_primary).map((e) => db.contacts.get(e.contact_id)!),
    ),
  };
}

/**
 * The query object returns every default property, empty ones as '' rather than
 * leaving them out, with `contact_id` first and `id` last: so the generated example
 * api/v3/examples/Contact/GetSingleContact.ex.php shows it (read at 5.39; the examples were deleted
 * in 2023). That example names the flag `contact_is_deleted`, not `is_deleted`, and gives on_hold
 * as 0; the emulator returns a subset of the fields.
 */
function record(db: EmulatorDb, c: ContactRow, fields: readonly string[] | null): ApiRecord {
  const email = db.primaryEmail(c.id);
  const all: ApiRecord = {
    contact_id: String(c.id),
    contact_type: c.contact_type,
    contact_sub_type: '',
    sort_name: c.sort_name ?? '',
    display_name: c.display_name ?? '',
    first_name: c.first_name ?? '',
    middle_name: '',
    last_name: c.last_name ?? '',
    is_deleted: c.is_deleted ? '1' : '0',
    email_id: email ? String(email.id) : '',
    email: email?.email ?? '',
    on_hold: email ? '0' : '',
    id: String(c.id),
  };
  if (!fields) return all;
  const wanted = new Set(['contact_id', ...fields, 'id']);
  return Object.fromEntries(Object.entries(all).filter(([key]) => wanted.has(key)));
}

function get(params: Params, db: EmulatorDb): unknown {
  const filters: Params = { ...params };
  if (filters['is_deleted'] !== undefined) delete filters['contact_is_deleted'];
  const showAll = String(params['showAll'] ?? '').toLowerCase();
  if (showAll === 'all') delete filters['contact_is_deleted'];
  if (showAll === 'active') filters['contact_is_deleted'] = 0;
  if (showAll === 'trash') filters['contact_is_deleted'] = 1;
  // showAll as _civicrm_api3_contact_get_supportanomalies reads it (api/v3/Contact.php, 5.69); with
  // no sort the query object orders by `contact_a.sort_name ASC, contact_a.id`
  // (CRM_Contact_BAO_Query::prepareOrderBy, 5.69).
  const { rows, options } = select(() => db.contacts, columns(db), filters, byId, 'sort_name ASC');
  return success(
    rows.map((c) => [c.id, record(db, c, options.fields)] as const),
    params,
  );
}

/**
 * The default Unsupervised rule for Individuals matches on email
 * (sql/civicrm_data/civicrm_dedupe_rule/IndividualUnsupervised.sqldata.php: civicrm_email.email,
 * weight 10, threshold 10), among contacts not in the trash (DedupeRuleGroup::thresholdQuery,
 * is_deleted = 0); all read at 5.69. CiviCRM's query
 * (CRM/Dedupe/BAO/QueryBuilder/IndividualUnsupervised.php) matches any of a contact's emails; the
 * emulator only primary ones.
 */
function duplicates(db: EmulatorDb, email: string | null | undefined, self: number | undefined): number[] {
  if (!email) return [];
  return db
    .contactsByEmail(email)
    .filter((c) => !c.is_deleted && c.id !== self)
    .map((c) => c.id);
}

/**
 * _civicrm_api3_contact_check_params (api/v3/Contact.php, 5.69 and 6.14): a contact needs something
 * to be called by. Its verify_mandatory calls check only `version` when an id is given.
 */
function assertNamed(params: Params, contactType: string): void {
  const need = (keys: readonly string[]): void => {
    if (keys.every((k) => isEmpty(params[k]))) {
      throw mandatoryMissing([keys.length === 1 ? keys[0]! : `one of (${keys.join(', ')})`]);
    }
  };
  if (contactType === 'Individual') need(['first_name', 'last_name', 'email', 'display_name']);
  if (contactType === 'Organization') need(['organization_name']);
  if (contactType === 'Household') need(['household_name']);
}

function create(params: Params, ctx: ApiContext): unknown {
  const { db } = ctx;
  const id = optionalId(params);
  // Lengths from xml/schema/Contact/Contact.xml and Core/Email.xml (5.69).
  const email = text(params, 'email', 254);
  const first = text(params, 'first_name', 64);
  const last = text(params, 'last_name', 64);
  const contactType = params['contact_type'] === undefined ? undefined : option(params['contact_type'], CONTACT_TYPES, 'contact_type');

  // civicrm_api3_contact_create (5.69): the dupe check comes before check_params.
  if (!isEmpty(params['dupe_check'])) {
    const ids = duplicates(db, email, id);
    if (ids.length > 0) throw new ApiError(`Found matching contacts: ${ids.join(',')}`, 'duplicate', { ids });
  }
  if (contactType) assertNamed(params, contactType);
  const rejection = email ? ctx.rejectedEmail(email) : undefined;
  if (rejection !== undefined) throw new ApiError(rejection);

  if (id !== undefined) {
    const old = db.contacts.get(id);
    // CiviCRM says this when it looks the contact type up, i.e. only if no contact_type was given.
    if (!old) throw new ApiError(`Contact id ${id} not found.`);
    const firstName = first === undefined ? old.first_name : first;
    const lastName = last === undefined ? old.last_name : last;
    if (email) {
      const primary = db.primaryEmail(id);
      if (primary) db.emails.update(primary.id, { email });
      else db.addEmail(id, email);
    }
    const row = db.contacts.update(id, {
      first_name: firstName,
      last_name: lastName,
      ...contactNames(firstName, lastName, db.primaryEmail(id)?.email ?? null),
    });
    return successRecords([toApiRecord(row, CREATE_FIELDS)], params);
  }

  const type = contactType ?? 'Individual';
  const orgName = text(params, type === 'Organization' ? 'organization_name' : 'household_name', 128);
  const names = type === 'Individual' ? contactNames(first ?? null, last ?? null, email ?? null) : { display_name: orgName ?? null, sort_name: orgName ?? null };
  const row = db.contacts.insert({
    contact_type: type,
    first_name: first ?? null,
    last_name: last ?? null,
    ...names,
    is_deleted: toBool(params['is_deleted']),
    api_key: null,
  });
  if (email) db.addEmail(row.id, email);
  return successRecords([toApiRecord(row, CREATE_FIELDS)], params);
}

export const contactEntity: EntityDef = {
  name: 'Contact',
  idAlias: true,
  actions: {
    // _civicrm_api3_contact_get_spec and _civicrm_api3_contact_create_spec (api/v3/Contact.php, 5.69).
    get: { defaults: { contact_is_deleted: 0 }, run: (params, ctx) => get(params, ctx.db) },
    create: { required: ['contact_type'], run: create },
  },
};
