// Folds the answers of a planned round into the observation, so the next plan sees
// what CiviCRM now holds without reading it again. Pure.
import type { Observation, Operation } from './plan.js';
import {
  parseAcl,
  parseEntityRole,
  parseGroup,
  parseRole,
  type CiviAcl,
  type CiviEntityRole,
  type CiviGroup,
  type CiviRole,
} from './records.js';

type Row = Record<string, unknown>;

/** The observation after `op` answered with `rows` (the `values` of its result). */
export function fold(observed: Observation, op: Operation, rows: Row[]): Observation {
  return op.kind === 'read' ? foldRead(observed, op, rows) : foldWrite(observed, op, rows);
}

function foldRead(observed: Observation, op: Operation & { kind: 'read' }, rows: Row[]): Observation {
  const key = op.key ?? 0;
  switch (op.target) {
    case 'groups':
      return { ...observed, groups: rows.map(parseGroup) };
    case 'titleHolders':
      return { ...observed, titleHolders: { titles: op.titles ?? [], rows: rows.map(parseGroup) } };
    case 'roles':
      return { ...observed, roles: rows.map(parseRole) };
    case 'roleEntityRoles':
      return { ...observed, roleEntityRoles: { key, rows: rows.map(parseEntityRole) } };
    case 'groupEntityRoles':
      return { ...observed, groupEntityRoles: { key, rows: rows.map(parseEntityRole) } };
    case 'acls':
      return { ...observed, acls: { key, rows: rows.map(parseAcl) } };
  }
}

function foldWrite(observed: Observation, op: Operation & { kind: 'write' }, rows: Row[]): Observation {
  // `id: 0` on a create only sidesteps an alias (see plan.ts): the new id is in the answer.
  const id = Number(op.params.id || rows[0]?.id);
  if (op.action === 'delete') return removeId(observed, op.target, id);
  // A create answers with the saved record; an update may answer with only what changed.
  const answer: Row = { ...op.params, ...(rows[0] ?? {}), id };
  switch (op.target) {
    case 'memberGroup':
    case 'aclGroup': {
      const groups = observed.groups ?? [];
      const before = groups.find((g) => g.id === id);
      const group = before ? { ...before, ...changedGroupFields(answer) } : parseGroup(answer);
      const fresh = !before && op.target === 'aclGroup' ? { groupEntityRoles: { key: id, rows: [] } } : {};
      return { ...observed, groups: [...groups.filter((g) => g.id !== id), group], ...fresh };
    }
    case 'role': {
      const roles = observed.roles ?? [];
      const before = roles.find((r) => r.id === id);
      const role = before ? { ...before, ...changedRoleFields(answer) } : parseRole(answer);
      // A new role value has no rows of ours yet; whether a deleted role left some is read alongside.
      const none = { key: role.value, rows: [], unverified: true as const };
      const fresh = before ? {} : { roleEntityRoles: none, acls: none };
      return { ...observed, roles: [...roles.filter((r) => r.id !== id), role], ...fresh };
    }
    case 'entityRole':
      return withEntityRole(observed, parseEntityRole(answer));
    case 'acl':
      return observed.acls ? { ...observed, acls: { ...observed.acls, rows: [...observed.acls.rows, parseAcl(answer)] } } : observed;
  }
}

/** Only the fields an update can send, so a partial answer does not reset the rest. */
function changedGroupFields(row: Row): Partial<CiviGroup> {
  const parsed = parseGroup(row);
  return {
    ...('title' in row && { title: parsed.title }),
    ...('is_active' in row && { isActive: parsed.isActive }),
    ...('group_type' in row && { groupType: parsed.groupType }),
    ...('description' in row && { description: parsed.description }),
  };
}

function changedRoleFields(row: Row): Partial<CiviRole> {
  const parsed = parseRole(row);
  return {
    ...('label' in row && { label: parsed.label }),
    ...('is_active' in row && { isActive: parsed.isActive }),
  };
}

function withEntityRole(observed: Observation, row: CiviEntityRole): Observation {
  const add = <T extends { key: number; rows: CiviEntityRole[] }>(keyed: T | undefined, key: number): T | undefined =>
    keyed && keyed.key === key ? { ...keyed, rows: [...keyed.rows, row] } : keyed;
  return {
    ...observed,
    roleEntityRoles: add(observed.roleEntityRoles, row.aclRoleId),
    groupEntityRoles: add(observed.groupEntityRoles, row.entityId),
  };
}

function removeId(observed: Observation, target: Operation['target'], id: number): Observation {
  const without = <T extends { id: number }>(rows: T[]) => rows.filter((r) => r.id !== id);
  const keyed = <T extends { id: number }>(k: { key: number; rows: T[] } | undefined) => k && { ...k, rows: without(k.rows) };
  switch (target) {
    case 'memberGroup':
    case 'aclGroup':
      return { ...observed, groups: observed.groups && without<CiviGroup>(observed.groups) };
    case 'role':
      return { ...observed, roles: observed.roles && without<CiviRole>(observed.roles) };
    case 'entityRole':
      return {
        ...observed,
        roleEntityRoles: keyed<CiviEntityRole>(observed.roleEntityRoles),
        groupEntityRoles: keyed<CiviEntityRole>(observed.groupEntityRoles),
      };
    case 'acl':
      return { ...observed, acls: keyed<CiviAcl>(observed.acls) };
    default:
      return observed;
  }
}
