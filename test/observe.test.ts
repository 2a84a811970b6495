import { describe, expect, it } from 'vitest';
import { fold } from '../src/sync/observe.js';
import type { Observation, Operation, ReadTarget, Target } from '../src/sync/plan.js';
import type { CiviAcl, CiviEntityRole, CiviGroup, CiviRole } from '../src/sync/records.js';

type Row = Record<string, unknown>;

const read = (target: ReadTarget, extra: { key?: number; titles?: string[] } = {}): Operation => ({
  kind: 'read',
  target,
  entity: 'X',
  params: {},
  ...extra,
});

const write = (target: Target, action: 'create' | 'delete', params: Row): Operation => ({
  kind: 'write',
  target,
  entity: 'X',
  action,
  params,
});

// Rows as CiviCRM answers them: every value a string, NULL fields left out.
const memberRow: Row = {
  id: '10',
  name: 'og_sync_42',
  title: 'Chess Club',
  source: 'OG Sync Group :42:',
  description: 'We play chess',
  is_active: '1',
  group_type: ['2'],
  visibility: 'User and User Admin Only',
};
const aclRow: Row = {
  id: '11',
  name: 'og_sync_acl_42',
  title: 'Chess Club: Administrator',
  source: 'OG Sync Group ACL :42:',
  is_active: '1',
  group_type: ['1'],
};
const roleRow: Row = {
  id: '301',
  option_group_id: '42',
  label: 'Chess Club: Administrator',
  value: '5',
  name: 'Chess Club: Administrator',
  description: 'OG Sync Group ACL :42:',
  is_active: '1',
  weight: '5',
};
const entityRoleRow: Row = { id: '7', acl_role_id: '5', entity_table: 'civicrm_group', entity_id: '11', is_active: '1' };
const aclRecordRow: Row = {
  id: '3',
  name: 'OG Sync ACL :42:',
  operation: 'Edit',
  entity_table: 'civicrm_acl_role',
  entity_id: '5',
  object_table: 'civicrm_group',
  object_id: '10',
  is_active: '1',
  deny: '0',
};

const memberGroup: CiviGroup = {
  id: 10,
  title: 'Chess Club',
  name: 'og_sync_42',
  source: 'OG Sync Group :42:',
  description: 'We play chess',
  isActive: true,
  groupType: [2],
};
const aclGroup: CiviGroup = {
  id: 11,
  title: 'Chess Club: Administrator',
  name: 'og_sync_acl_42',
  source: 'OG Sync Group ACL :42:',
  description: undefined,
  isActive: true,
  groupType: [1],
};
const role: CiviRole = {
  id: 301,
  value: 5,
  label: 'Chess Club: Administrator',
  description: 'OG Sync Group ACL :42:',
  isActive: true,
};
const entityRole: CiviEntityRole = { id: 7, aclRoleId: 5, entityTable: 'civicrm_group', entityId: 11, isActive: true };
const acl: CiviAcl = {
  id: 3,
  name: 'OG Sync ACL :42:',
  operation: 'Edit',
  entityTable: 'civicrm_acl_role',
  entityId: 5,
  objectTable: 'civicrm_group',
  objectId: 10,
  isActive: true,
  deny: false,
};

/** The observation of a synced group, every part read. */
const full = (): Observation => ({
  groups: [memberGroup, aclGroup],
  titleHolders: { titles: ['Chess Club', 'Chess Club: Administrator'], rows: [memberGroup, aclGroup] },
  roles: [role],
  roleEntityRoles: { key: 5, rows: [entityRole] },
  groupEntityRoles: { key: 11, rows: [entityRole] },
  acls: { key: 5, rows: [acl] },
});

describe('fold of reads', () => {
  it('records our groups, parsed from strings', () => {
    expect(fold({}, read('groups'), [memberRow, aclRow])).toEqual({ groups: [memberGroup, aclGroup] });
  });

  it('records an empty answer as read and empty, not as unread', () => {
    const observed = fold({}, read('groups'), []);
    expect(observed.groups).toEqual([]);
    expect(fold(observed, read('roles'), []).roles).toEqual([]);
  });

  it('records the title holders with the titles they were read for', () => {
    const titles = ['Chess Club', 'Chess Club: Administrator'];
    expect(fold({}, read('titleHolders', { titles }), [memberRow])).toEqual({
      titleHolders: { titles, rows: [memberGroup] },
    });
  });

  it('records roles', () => {
    expect(fold({}, read('roles'), [roleRow])).toEqual({ roles: [role] });
  });

  it('records keyed reads under their key', () => {
    let observed: Observation = {};
    observed = fold(observed, read('roleEntityRoles', { key: 5 }), [entityRoleRow]);
    observed = fold(observed, read('groupEntityRoles', { key: 11 }), [entityRoleRow]);
    observed = fold(observed, read('acls', { key: 5 }), [aclRecordRow]);
    expect(observed).toEqual({
      roleEntityRoles: { key: 5, rows: [entityRole] },
      groupEntityRoles: { key: 11, rows: [entityRole] },
      acls: { key: 5, rows: [acl] },
    });
  });

  it('replaces what an earlier read of the same target found', () => {
    const observed = fold(full(), read('acls', { key: 9 }), []);
    expect(observed.acls).toEqual({ key: 9, rows: [] });
    expect(observed.groups).toEqual(full().groups);
  });

  it('leaves every other part of the observation alone', () => {
    const before = full();
    const after = fold(before, read('roles'), [roleRow, { ...roleRow, id: '302', value: '6' }]);
    expect(after.groups).toBe(before.groups);
    expect(after.acls).toBe(before.acls);
    expect(after.roles).toHaveLength(2);
  });

  it('does not change the observation it was given', () => {
    const before = full();
    const copy = structuredClone(before);
    fold(before, read('groups'), []);
    fold(before, write('memberGroup', 'create', { id: 10, title: 'New' }), [{ id: '10', title: 'New' }]);
    fold(before, write('acl', 'delete', { id: 3 }), []);
    fold(before, write('entityRole', 'create', { acl_role_id: 5, entity_table: 'civicrm_group', entity_id: 11 }), [
      { id: '8', acl_role_id: '5', entity_table: 'civicrm_group', entity_id: '11', is_active: '1' },
    ]);
    expect(before).toEqual(copy);
  });
});

describe('parsing CiviCRM values', () => {
  it('reads group_type as an array, a CTRL-A string or a comma string', () => {
    const types = (group_type: unknown) => fold({}, read('groups'), [{ ...memberRow, group_type }]).groups![0]!.groupType;
    expect(types(['1', '2'])).toEqual([1, 2]);
    expect(types('\x011\x012\x01')).toEqual([1, 2]);
    expect(types('1,2')).toEqual([1, 2]);
    expect(types('2')).toEqual([2]);
    expect(types(undefined)).toEqual([]);
  });

  it('takes a missing is_active as active and "0" as inactive', () => {
    const { is_active: _, ...noFlag } = memberRow;
    expect(fold({}, read('groups'), [noFlag]).groups![0]!.isActive).toBe(true);
    expect(fold({}, read('groups'), [{ ...memberRow, is_active: '0' }]).groups![0]!.isActive).toBe(false);
  });

  it('takes a missing deny as allow', () => {
    const { deny: _, ...noDeny } = aclRecordRow;
    expect(fold({}, read('acls', { key: 5 }), [noDeny]).acls!.rows[0]!.deny).toBe(false);
    expect(fold({}, read('acls', { key: 5 }), [{ ...aclRecordRow, deny: '1' }]).acls!.rows[0]!.deny).toBe(true);
  });
});

describe('fold of group writes', () => {
  it('adds a created member group from the saved record', () => {
    const observed = fold({ groups: [] }, write('memberGroup', 'create', { title: 'Chess Club', name: 'og_sync_42' }), [
      memberRow,
    ]);
    expect(observed.groups).toEqual([memberGroup]);
    expect(observed.groupEntityRoles).toBeUndefined();
  });

  it('adds a created group from the sent params when the answer holds only the id', () => {
    const params = {
      title: 'Chess Club',
      name: 'og_sync_42',
      source: 'OG Sync Group :42:',
      group_type: [2],
      is_active: 1,
      description: 'We play chess',
    };
    const observed = fold({ groups: [] }, write('memberGroup', 'create', params), [{ id: '10' }]);
    expect(observed.groups).toEqual([memberGroup]);
  });

  it('starts a new ACL group with its entity roles read and empty', () => {
    const observed = fold({ groups: [memberGroup] }, write('aclGroup', 'create', { title: 'x' }), [aclRow]);
    expect(observed.groups).toEqual([memberGroup, aclGroup]);
    expect(observed.groupEntityRoles).toEqual({ key: 11, rows: [] });
  });

  it('updates a group with a full answer', () => {
    const observed = fold(full(), write('memberGroup', 'create', { id: 10, title: 'Go Club' }), [
      { ...memberRow, title: 'Go Club' },
    ]);
    expect(observed.groups).toContainEqual({ ...memberGroup, title: 'Go Club' });
    expect(observed.groups).toHaveLength(2);
  });

  it('does not reset other fields on a partial update answer', () => {
    const observed = fold(full(), write('memberGroup', 'create', { id: 10, title: 'Go Club' }), [
      { id: '10', title: 'Go Club' },
    ]);
    expect(observed.groups).toContainEqual({ ...memberGroup, title: 'Go Club' });
  });

  it('does not reset other fields on an update answered with nothing at all', () => {
    const observed = fold(full(), write('aclGroup', 'create', { id: 11, is_active: 0 }), []);
    expect(observed.groups).toContainEqual({ ...aclGroup, isActive: false });
    expect(observed.groups).toContainEqual(memberGroup);
  });

  it('applies a partial update of is_active, group_type and description', () => {
    let observed = fold(full(), write('memberGroup', 'create', { id: 10, is_active: 0 }), [{ id: '10', is_active: '0' }]);
    observed = fold(observed, write('memberGroup', 'create', { id: 10, group_type: [1, 2] }), [{ id: '10' }]);
    observed = fold(observed, write('memberGroup', 'create', { id: 10, description: 'New' }), [
      { id: '10', description: 'New' },
    ]);
    expect(observed.groups!.find((g) => g.id === 10)).toEqual({
      ...memberGroup,
      isActive: false,
      groupType: [1, 2],
      description: 'New',
    });
  });

  it('keeps the groups entity roles when an existing ACL group is updated', () => {
    const observed = fold(full(), write('aclGroup', 'create', { id: 11, title: 'Go Club: Administrator' }), [
      { id: '11', title: 'Go Club: Administrator' },
    ]);
    expect(observed.groupEntityRoles).toEqual({ key: 11, rows: [entityRole] });
  });

  it('removes a deleted group', () => {
    const observed = fold(full(), write('memberGroup', 'delete', { id: 10 }), []);
    expect(observed.groups).toEqual([aclGroup]);
    expect(fold(observed, write('aclGroup', 'delete', { id: 11 }), [{ id: '11' }]).groups).toEqual([]);
  });
});

describe('fold of role writes', () => {
  it('adds a new role with empty, still unverified keyed rows for its value', () => {
    const observed = fold(
      { groups: [memberGroup, aclGroup], roles: [] },
      write('role', 'create', { option_group_id: 'acl_role', label: 'Chess Club: Administrator' }),
      [roleRow],
    );
    expect(observed.roles).toEqual([role]);
    expect(observed.roleEntityRoles).toEqual({ key: 5, rows: [], unverified: true });
    expect(observed.acls).toEqual({ key: 5, rows: [], unverified: true });
  });

  it('replaces keyed rows of another value when a new role is made', () => {
    const observed = fold(
      { roles: [], roleEntityRoles: { key: 2, rows: [{ ...entityRole, aclRoleId: 2 }] }, acls: { key: 2, rows: [] } },
      write('role', 'create', { label: 'x' }),
      [roleRow],
    );
    expect(observed.roleEntityRoles).toEqual({ key: 5, rows: [], unverified: true });
    expect(observed.acls).toEqual({ key: 5, rows: [], unverified: true });
  });

  it('updates a role without resetting its value, description or keyed rows', () => {
    const before = full();
    const observed = fold(before, write('role', 'create', { id: 301, label: 'Go Club: Administrator', is_active: 1 }), [
      { id: '301', label: 'Go Club: Administrator', is_active: '1' },
    ]);
    expect(observed.roles).toEqual([{ ...role, label: 'Go Club: Administrator' }]);
    expect(observed.roleEntityRoles).toBe(before.roleEntityRoles);
    expect(observed.acls).toBe(before.acls);
  });

  it('reactivates a role from the params when the answer is bare', () => {
    const observed = fold(
      { roles: [{ ...role, isActive: false }] },
      write('role', 'create', { id: 301, label: role.label, is_active: 1 }),
      [],
    );
    expect(observed.roles).toEqual([role]);
  });

  it('removes a deleted role', () => {
    expect(fold(full(), write('role', 'delete', { id: 301 }), []).roles).toEqual([]);
  });
});

describe('fold of entity role writes', () => {
  it('adds a created entity role to both keyed lists it belongs to', () => {
    const before: Observation = { ...full(), roleEntityRoles: { key: 5, rows: [] }, groupEntityRoles: { key: 11, rows: [] } };
    const observed = fold(before, write('entityRole', 'create', { acl_role_id: 5, entity_table: 'civicrm_group', entity_id: 11 }), [
      entityRoleRow,
    ]);
    expect(observed.roleEntityRoles).toEqual({ key: 5, rows: [entityRole] });
    expect(observed.groupEntityRoles).toEqual({ key: 11, rows: [entityRole] });
  });

  it('adds it only where the key matches', () => {
    const before: Observation = { roleEntityRoles: { key: 5, rows: [] }, groupEntityRoles: { key: 99, rows: [] } };
    const observed = fold(before, write('entityRole', 'create', {}), [entityRoleRow]);
    expect(observed.roleEntityRoles!.rows).toEqual([entityRole]);
    expect(observed.groupEntityRoles!.rows).toEqual([]);
  });

  it('leaves unread lists unread', () => {
    const observed = fold({}, write('entityRole', 'create', {}), [entityRoleRow]);
    expect(observed.roleEntityRoles).toBeUndefined();
    expect(observed.groupEntityRoles).toBeUndefined();
  });

  it('removes a deleted entity role from both lists', () => {
    const other: CiviEntityRole = { ...entityRole, id: 8, entityId: 99 };
    const before: Observation = { roleEntityRoles: { key: 5, rows: [entityRole, other] }, groupEntityRoles: { key: 11, rows: [entityRole] } };
    const observed = fold(before, write('entityRole', 'delete', { id: 7 }), []);
    expect(observed.roleEntityRoles).toEqual({ key: 5, rows: [other] });
    expect(observed.groupEntityRoles).toEqual({ key: 11, rows: [] });
  });
});

describe('fold of ACL writes', () => {
  it('adds a created ACL', () => {
    const observed = fold({ acls: { key: 5, rows: [] } }, write('acl', 'create', { name: 'OG Sync ACL :42:' }), [aclRecordRow]);
    expect(observed.acls).toEqual({ key: 5, rows: [acl] });
  });

  it('builds the ACL from the params when the answer holds only the id', () => {
    const params = {
      name: 'OG Sync ACL :42:',
      operation: 'Edit',
      entity_table: 'civicrm_acl_role',
      entity_id: 5,
      object_table: 'civicrm_group',
      object_id: 10,
      is_active: 1,
      deny: 0,
    };
    expect(fold({ acls: { key: 5, rows: [] } }, write('acl', 'create', params), [{ id: '3' }]).acls).toEqual({
      key: 5,
      rows: [acl],
    });
  });

  it('leaves unread ACLs unread', () => {
    expect(fold({}, write('acl', 'create', {}), [aclRecordRow]).acls).toBeUndefined();
  });

  it('removes a deleted ACL and keeps the others', () => {
    const second: CiviAcl = { ...acl, id: 4 };
    const observed = fold({ acls: { key: 5, rows: [acl, second] } }, write('acl', 'delete', { id: 3 }), []);
    expect(observed.acls).toEqual({ key: 5, rows: [second] });
  });
});
