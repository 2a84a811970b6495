/**
 * Email (civicrm_email): api/v3/Email.php (civicrm-core; its get is a plain
 * _civicrm_api3_basic_get as read at 4.6.36, 5.69 and 6.14). Filters take SQL
 * operators (`{"IN": […]}`), every email of a contact is a row (not only the primary one), and a
 * dotted key joins a foreign key's table (Civi\API\Api3SelectQuery::buildWhereClause →
 * SelectQuery::addFkField, 5.69): core's own Email.getlist filters `contact_id.is_deleted` this
 * way (_civicrm_api3_email_getlist_defaults, 5.69). CiviCRM ignores dotted keys that name no join;
 * the emulator knows only that one.
 */
import type { EmailRow, EmulatorDb } from '../db.js';
import { successRecords, toApiRecord } from '../envelope.js';
import type { EntityDef } from '../kernel.js';
import { select, type Columns } from '../query.js';
import { boolColumn, byId, idColumn, intColumn, textColumn } from './fields.js';

const FIELDS = ['id', 'contact_id', 'location_type_id', 'email', 'is_primary'] as const;

function columns(db: EmulatorDb): Columns<EmailRow> {
  return {
    id: idColumn(db.emails),
    contact_id: intColumn((e) => e.contact_id, (v) => db.by.contactEmails.get(v)),
    email: textColumn((e) => e.email, (key) => db.by.emailAddress.get(key)),
    is_primary: boolColumn((e) => e.is_primary),
    location_type_id: intColumn((e) => e.location_type_id),
    'contact_id.is_deleted': boolColumn((e) => db.contacts.get(e.contact_id)?.is_deleted ?? false),
  };
}

export const emailEntity: EntityDef = {
  name: 'Email',
  idAlias: true,
  actions: {
    get: {
      run: (params, ctx) => {
        const { rows, options } = select(() => ctx.db.emails, columns(ctx.db), params, byId);
        return successRecords(rows.map((e) => toApiRecord(e, options.fields ?? FIELDS)), params);
      },
    },
  },
};
