// The shapes of GroupContact writes and what their answers say (src/sync/group-contacts.ts).
import { describe, expect, it } from 'vitest';
import { writeCall, writeResult, type GroupContactWrite } from '../src/sync/group-contacts.js';

const members = [
  { uid: 7, contactId: 70 },
  { uid: 8, contactId: 80 },
];
const write = (mode: GroupContactWrite['mode']): GroupContactWrite => ({ groupId: 5, status: 'Added', mode, members });

describe('writeCall', () => {
  it('writes contacts just resolved by id, many to a call', () => {
    expect(writeCall(write('byId'))).toEqual(['GroupContact', 'create', { group_id: 5, contact_id: [70, 80], status: 'Added' }]);
    expect(writeCall({ ...write('byId'), members: [members[0]!] })[2]).toMatchObject({ contact_id: 70 });
  });

  it('writes cached linked contacts through their UFMatch, in one call', () => {
    expect(writeCall(write('throughUFMatch'))).toEqual([
      'UFMatch',
      'get',
      {
        uf_id: { IN: [7, 8] },
        return: ['uf_id', 'contact_id'],
        options: { limit: 0 },
        'api.GroupContact.create': { group_id: 5, status: 'Added', contact_id: '$value.contact_id' },
      },
    ]);
  });

  it('writes other cached contacts only when they are not in the trash', () => {
    expect(writeCall(write('unlessTrashed'))).toEqual([
      'Contact',
      'get',
      { id: { IN: [70, 80] }, is_deleted: 0, return: ['id'], options: { limit: 0 }, 'api.GroupContact.create': { group_id: 5, status: 'Added' } },
    ]);
  });
});

describe('writeResult', () => {
  it('counts every member of a write by id as written', () => {
    expect(writeResult(write('byId'), [])).toEqual({ written: [7, 8], moved: [] });
  });

  it('names the members written through a UFMatch, and those found at another contact', () => {
    const rows = [{ uf_id: '7', contact_id: '70' }, { uf_id: '8', contact_id: '81' }, { uf_id: '9', contact_id: '90' }];
    expect(writeResult(write('throughUFMatch'), rows)).toEqual({ written: [7, 8], moved: [{ uid: 8, contactId: 81 }] });
    expect(writeResult(write('throughUFMatch'), [{ uf_id: '7', contact_id: '70' }]).written).toEqual([7]);
  });

  it('leaves out the members whose contact Contact.get no longer finds', () => {
    expect(writeResult(write('unlessTrashed'), [{ id: '80' }])).toEqual({ written: [8], moved: [] });
  });
});
