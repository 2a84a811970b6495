// GroupContact writes, each shaped by how far the contact it names can be trusted. Pure: the
// calls to send, and what their answers say was written.
//
// - `byId`: a contact resolved in this very sync, written by id, many to a call.
// - `throughUFMatch`: a cached contact the user has through a UFMatch. The write goes through
//   that UFMatch in the same call (API chaining, `$value.contact_id`): when CiviCRM has merged
//   the contact, its dedupe moved the UFMatch to the contact kept (CRM/Dedupe/Merger.php), so
//   the write follows the merge with no extra round trip, and never lands on the trashed one
//   (a contact with a UFMatch cannot be trashed otherwise: CRM_Contact_BAO_Contact::deleteContact).
// - `unlessTrashed`: any other cached contact, written only when Contact.get (which leaves out
//   the trash) still finds it; the chained call gets its `contact_id` from the parent.
import type { ApiCall } from '../civicrm/client.js';
import type { GroupContactStatus } from './memberships.js';

export type WriteMode = 'byId' | 'throughUFMatch' | 'unlessTrashed';

export interface ContactOfMember {
  uid: number;
  contactId: number;
}

export interface GroupContactWrite {
  groupId: number;
  status: GroupContactStatus;
  mode: WriteMode;
  members: ContactOfMember[];
}

export interface WriteResult {
  /** Members whose row was written (or already so). */
  written: number[];
  /** Members now found at another contact than the one cached (a merge, followed). */
  moved: ContactOfMember[];
}

const ALL = { limit: 0 };

export function writeCall({ groupId, status, mode, members }: GroupContactWrite): ApiCall {
  const chained = { group_id: groupId, status };
  switch (mode) {
    case 'byId':
      return groupContactCall(groupId, members.map((m) => m.contactId), status);
    case 'throughUFMatch':
      return [
        'UFMatch',
        'get',
        {
          uf_id: { IN: members.map((m) => m.uid) },
          return: ['uf_id', 'contact_id'],
          options: ALL,
          'api.GroupContact.create': { ...chained, contact_id: '$value.contact_id' },
        },
      ];
    case 'unlessTrashed':
      return [
        'Contact',
        'get',
        {
          id: { IN: members.map((m) => m.contactId) },
          is_deleted: 0,
          return: ['id'],
          options: ALL,
          'api.GroupContact.create': chained,
        },
      ];
  }
}

/** GroupContact.create of contacts by id. */
export function groupContactCall(groupId: number, contactIds: number[], status: GroupContactStatus): ApiCall {
  return ['GroupContact', 'create', { group_id: groupId, contact_id: contactIds.length === 1 ? contactIds[0] : contactIds, status }];
}

/** What a successful answer to `writeCall(write)` says of each member. */
export function writeResult(write: GroupContactWrite, rows: Array<Record<string, unknown>>): WriteResult {
  if (write.mode === 'byId') return { written: write.members.map((m) => m.uid), moved: [] };
  if (write.mode === 'unlessTrashed') {
    const found = new Set(rows.map((row) => Number(row.id)));
    return { written: write.members.filter((m) => found.has(m.contactId)).map((m) => m.uid), moved: [] };
  }
  const cached = new Map(write.members.map((m) => [m.uid, m.contactId]));
  const written = new Set<number>();
  const moved: ContactOfMember[] = [];
  for (const row of rows) {
    const uid = Number(row.uf_id);
    const contactId = Number(row.contact_id);
    if (!cached.has(uid)) continue;
    written.add(uid);
    if (cached.get(uid) !== contactId) moved.push({ uid, contactId });
  }
  return { written: [...written], moved };
}
