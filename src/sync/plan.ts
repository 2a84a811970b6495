// The group plan: from what the ledger wants and what has been observed in CiviCRM,
// the next round of independent API calls. Pure: no I/O, so every case is unit-tested.
//
// Reconciling a group is a loop: plan a round, run it as one request, fold the answers
// into the observation, plan again, until a round is empty. Reads come first; a write is
// planned only once everything it depends on has been observed.
import type { OnGroupDelete } from '../config.js';
import {
  aclGroupName,
  aclName,
  aclSource,
  groupTitles,
  memberGroupName,
  memberSource,
  placeholderTitle,
  type GroupTitles,
} from './naming.js';
import {
  GROUP_TYPE_ACCESS,
  GROUP_TYPE_MAILING,
  type CiviAcl,
  type CiviEntityRole,
  type CiviGroup,
  type CiviRole,
  type ObjectTable,
} from './records.js';

export interface DesiredGroup {
  ogId: number;
  /** Absent while no group event has brought the title. */
  title?: string;
  description?: string;
  deleted: boolean;
}

export interface PlanSettings {
  onGroupDelete: OnGroupDelete;
  objectTable: ObjectTable;
}

/** Rows read for a given key (a role value or a group id); re-read when the key changes. */
export interface Keyed<T> {
  key: number;
  rows: T[];
  /**
   * Rows assumed rather than read: a just-created role starts with none of its own, but
   * CiviCRM can hand out the value of a deleted role again, whose rows may remain. They
   * are read in the same round as the first writes, and stale ones go in the next.
   */
  unverified?: true;
}

/** What is known of CiviCRM so far in this reconciliation; `undefined` = not read yet. */
export interface Observation {
  /** Groups whose `source` is one of ours. */
  groups?: CiviGroup[];
  /** Groups holding one of the titles we want, whoever made them. */
  titleHolders?: { titles: string[]; rows: CiviGroup[] };
  /** ACL role option values whose description is our ACL source. */
  roles?: CiviRole[];
  /** Entity roles of our role value. */
  roleEntityRoles?: Keyed<CiviEntityRole>;
  /** Entity roles on our ACL group. */
  groupEntityRoles?: Keyed<CiviEntityRole>;
  /** ACLs of our role value. */
  acls?: Keyed<CiviAcl>;
}

export type Target = 'memberGroup' | 'aclGroup' | 'role' | 'entityRole' | 'acl';
export type ReadTarget = 'groups' | 'titleHolders' | 'roles' | 'roleEntityRoles' | 'groupEntityRoles' | 'acls';

export type Operation =
  | { kind: 'read'; target: ReadTarget; entity: string; params: Record<string, unknown>; key?: number; titles?: string[] }
  | { kind: 'write'; target: Target; entity: string; action: 'create' | 'delete'; params: Record<string, unknown> };

const ENTITY: Record<Target, string> = {
  memberGroup: 'Group',
  aclGroup: 'Group',
  role: 'OptionValue',
  entityRole: 'AclRole',
  acl: 'Acl',
};

const ALL = { options: { limit: 0 } };

/**
 * API v3 takes `<entity>_id` as an alias of `id` when no `id` is given; for AclRole that
 * swallows the real `acl_role_id` column (a create silently "updates" nothing, a get filters
 * by id). Giving an `id` that selects everything, or nothing to update, keeps the column.
 */
const AVOID_ID_ALIAS_GET = { id: { '>': 0 } };
const AVOID_ID_ALIAS_CREATE = { id: 0 };

/** The group's ids in CiviCRM as far as the observation tells. */
export interface Resolved {
  memberGroup?: CiviGroup;
  aclGroup?: CiviGroup;
  role?: CiviRole;
}

/**
 * CiviCRM's own role values: 0 "Everyone" (5.64+) and 2 "Authenticated" apply to every
 * (logged-in) user, 1 is the stock "Administrator". A row holding one of them is never taken
 * for a group's role, whatever its description says.
 */
const RESERVED_ROLE_VALUES = new Set([0, 1, 2]);

export function resolve(ogId: number, observed: Observation): Resolved {
  return {
    memberGroup: ours(observed.groups, memberSource(ogId)),
    aclGroup: ours(observed.groups, aclSource(ogId)),
    role: observed.roles?.filter((r) => !RESERVED_ROLE_VALUES.has(r.value)).sort((a, b) => a.id - b.id)[0],
  };
}

/** Several groups with one source (made twice by an older module): the oldest is ours. */
function ours(groups: CiviGroup[] | undefined, source: string): CiviGroup | undefined {
  return groups
    ?.filter((g) => g.source?.toLowerCase() === source.toLowerCase())
    .sort((a, b) => a.id - b.id)[0];
}

export interface PlanHint {
  /** Role value and ACL group id from the last sync, so their rows are read in the first round. */
  roleValue?: number;
  aclGroupId?: number;
}

/** The next round of calls; empty when CiviCRM matches the desired group. */
export function planGroup(desired: DesiredGroup, observed: Observation, settings: PlanSettings, hint: PlanHint = {}): Operation[] {
  const reads = plannedReads(desired, observed, hint);
  const ready = observed.groups !== undefined && observed.roles !== undefined;
  if (!ready) return reads;
  const writes = desired.deleted ? deletionWrites(desired, observed, settings) : upkeepWrites(desired, observed, settings);
  return [...reads, ...writes];
}

function plannedReads(desired: DesiredGroup, observed: Observation, hint: PlanHint): Operation[] {
  const { ogId } = desired;
  const reads: Operation[] = [];
  if (!observed.groups) {
    reads.push(read('groups', 'Group', { source: { IN: [memberSource(ogId), aclSource(ogId)] } }));
  }
  if (!observed.roles) {
    reads.push(read('roles', 'OptionValue', { option_group_id: 'acl_role', description: aclSource(ogId) }));
  }
  if (!desired.deleted) {
    const titles = wantedTitles(desired);
    if (!sameTitles(observed.titleHolders?.titles, titles)) {
      reads.push({ ...read('titleHolders', 'Group', { title: { IN: titles } }), titles });
    }
  }
  // Before the first round the ids are only hinted; afterwards they are what was observed.
  const known = observed.groups && observed.roles ? resolve(ogId, observed) : undefined;
  const roleValue = known ? known.role?.value : hint.roleValue;
  const aclGroupId = known ? known.aclGroup?.id : hint.aclGroupId;
  const stale = (keyed: Keyed<unknown> | undefined, key: number) => keyed?.key !== key || keyed.unverified;
  if (roleValue !== undefined && stale(observed.roleEntityRoles, roleValue)) {
    reads.push({ ...read('roleEntityRoles', 'AclRole', { ...AVOID_ID_ALIAS_GET, acl_role_id: roleValue }), key: roleValue });
  }
  if (roleValue !== undefined && stale(observed.acls, roleValue)) {
    reads.push({ ...read('acls', 'Acl', { entity_table: 'civicrm_acl_role', entity_id: roleValue }), key: roleValue });
  }
  if (aclGroupId !== undefined && observed.groupEntityRoles?.key !== aclGroupId) {
    reads.push({
      ...read('groupEntityRoles', 'AclRole', { entity_table: 'civicrm_group', entity_id: aclGroupId }),
      key: aclGroupId,
    });
  }
  return reads;
}

function read(target: ReadTarget, entity: string, params: Record<string, unknown>): Operation & { kind: 'read' } {
  return { kind: 'read', target, entity, params: { ...params, ...ALL } };
}

/** The plain titles we would like; a clash with a group not ours adds the ` (OG N)` suffix. */
function wantedTitles(desired: DesiredGroup): string[] {
  const plain = groupTitles(desired.ogId, desired.title ?? placeholderTitle(desired.ogId), false);
  return [plain.member, plain.acl];
}

function sameTitles(a: string[] | undefined, b: string[]): boolean {
  return a !== undefined && a.length === b.length && a.every((t, i) => t === b[i]);
}

/** The titles to give the groups, once the title holders are known. */
export function titlesFor(desired: DesiredGroup, observed: Observation): GroupTitles | undefined {
  if (!observed.titleHolders || !sameTitles(observed.titleHolders.titles, wantedTitles(desired))) return undefined;
  const { memberGroup, aclGroup } = resolve(desired.ogId, observed);
  // Groups that exist keep their titles until a group event brings the real one: the
  // placeholder is only for groups the service has to make.
  if (desired.title === undefined && memberGroup) {
    return { member: memberGroup.title, acl: aclGroup?.title ?? groupTitles(desired.ogId, memberGroup.title, false).acl };
  }
  const mine = new Set([memberGroup?.id, aclGroup?.id]);
  const title = desired.title ?? placeholderTitle(desired.ogId);
  const clash = observed.titleHolders.rows.some((g) => !mine.has(g.id));
  return groupTitles(desired.ogId, title, clash);
}

function upkeepWrites(desired: DesiredGroup, observed: Observation, settings: PlanSettings): Operation[] {
  const titles = titlesFor(desired, observed);
  if (!titles) return [];
  const { ogId } = desired;
  const { memberGroup, aclGroup, role } = resolve(ogId, observed);
  const writes: Operation[] = [];

  const memberWrite = groupWrite('memberGroup', memberGroup, {
    title: titles.member,
    name: memberGroupName(ogId),
    source: memberSource(ogId),
    groupType: GROUP_TYPE_MAILING,
    description: desired.description,
  });
  const aclWrite = groupWrite('aclGroup', aclGroup, {
    title: titles.acl,
    name: aclGroupName(ogId),
    source: aclSource(ogId),
    groupType: GROUP_TYPE_ACCESS,
  });
  const roleWrite = roleUpkeep(ogId, role, titles.acl);
  for (const w of [memberWrite, aclWrite, roleWrite]) if (w) writes.push(w);

  // The ACL chain links ids, so it waits for the groups and the role to exist.
  if (memberGroup && aclGroup && role) writes.push(...aclChainWrites(ogId, observed, settings, memberGroup, aclGroup, role));
  return writes;
}

interface GroupSpec {
  title: string;
  name: string;
  source: string;
  groupType: number;
  description?: string;
}

function groupWrite(target: 'memberGroup' | 'aclGroup', current: CiviGroup | undefined, spec: GroupSpec): Operation | undefined {
  if (!current) {
    return write(target, 'create', {
      title: spec.title,
      name: spec.name,
      source: spec.source,
      group_type: checkboxes([spec.groupType]),
      is_active: 1,
      ...(spec.description !== undefined && { description: spec.description }),
    });
  }
  const changes: Record<string, unknown> = {};
  if (current.title !== spec.title) changes.title = spec.title;
  if (!current.isActive) changes.is_active = 1;
  if (!current.groupType.includes(spec.groupType)) changes.group_type = checkboxes([...current.groupType, spec.groupType]);
  if (spec.description !== undefined && (current.description ?? '') !== spec.description) changes.description = spec.description;
  return Object.keys(changes).length === 0 ? undefined : write(target, 'create', { id: current.id, ...changes });
}

function roleUpkeep(ogId: number, role: CiviRole | undefined, label: string): Operation | undefined {
  if (!role) {
    return write('role', 'create', { option_group_id: 'acl_role', label, description: aclSource(ogId), is_active: 1 });
  }
  if (role.label === label && role.isActive) return undefined;
  return write('role', 'create', { id: role.id, label, is_active: 1 });
}

/** Exactly one entity role (our role → our ACL group) and one ACL (our role edits our member group). */
function aclChainWrites(
  ogId: number,
  observed: Observation,
  settings: PlanSettings,
  memberGroup: CiviGroup,
  aclGroup: CiviGroup,
  role: CiviRole,
): Operation[] {
  const writes: Operation[] = [];
  const { roleEntityRoles, groupEntityRoles, acls } = observed;
  if (roleEntityRoles?.key === role.value && groupEntityRoles?.key === aclGroup.id) {
    const rows = uniqueById([...roleEntityRoles.rows, ...groupEntityRoles.rows]);
    const isWanted = (r: CiviEntityRole) =>
      r.aclRoleId === role.value && r.entityTable === 'civicrm_group' && r.entityId === aclGroup.id && r.isActive;
    const keep = rows.find(isWanted);
    // Rows of our role elsewhere, or of stale roles on our ACL group, are what older modules leaked.
    for (const r of rows) if (r !== keep) writes.push(write('entityRole', 'delete', { id: r.id }));
    if (!keep) {
      writes.push(
        write('entityRole', 'create', {
          ...AVOID_ID_ALIAS_CREATE,
          acl_role_id: role.value,
          entity_table: 'civicrm_group',
          entity_id: aclGroup.id,
          is_active: 1,
        }),
      );
    }
  }
  if (acls?.key === role.value) {
    const isWanted = (a: CiviAcl) =>
      a.operation === 'Edit' &&
      a.entityTable === 'civicrm_acl_role' &&
      a.entityId === role.value &&
      a.objectTable === settings.objectTable &&
      a.objectId === memberGroup.id &&
      a.isActive &&
      !a.deny;
    const keep = acls.rows.find(isWanted);
    for (const a of acls.rows) if (a !== keep) writes.push(write('acl', 'delete', { id: a.id }));
    if (!keep) {
      writes.push(
        write('acl', 'create', {
          name: aclName(ogId),
          operation: 'Edit',
          entity_table: 'civicrm_acl_role',
          entity_id: role.value,
          object_table: settings.objectTable,
          object_id: memberGroup.id,
          is_active: 1,
          deny: 0,
        }),
      );
    }
  }
  return writes;
}

/** A deleted OG: the ACL always goes (ex-admins keep no access); the rest per ON_GROUP_DELETE. */
function deletionWrites(desired: DesiredGroup, observed: Observation, settings: PlanSettings): Operation[] {
  const { memberGroup, aclGroup, role } = resolve(desired.ogId, observed);
  // Without a role there can be no ACL of ours; with one, its ACLs must be read first.
  if (role && observed.acls?.key !== role.value) return [];
  const writes: Operation[] = (role ? (observed.acls?.rows ?? []) : []).map((a) => write('acl', 'delete', { id: a.id }));
  if (settings.onGroupDelete === 'disable') {
    for (const [target, group] of [['memberGroup', memberGroup], ['aclGroup', aclGroup]] as const) {
      if (group?.isActive) writes.push(write(target, 'create', { id: group.id, is_active: 0 }));
    }
  }
  if (settings.onGroupDelete === 'delete') {
    const roleRowsRead = !role || observed.roleEntityRoles?.key === role.value;
    const groupRowsRead = !aclGroup || observed.groupEntityRoles?.key === aclGroup.id;
    if (!roleRowsRead || !groupRowsRead) return writes;
    const entityRoles = uniqueById([
      ...(role ? (observed.roleEntityRoles?.rows ?? []) : []),
      ...(aclGroup ? (observed.groupEntityRoles?.rows ?? []) : []),
    ]);
    for (const r of entityRoles) writes.push(write('entityRole', 'delete', { id: r.id }));
    if (role) writes.push(write('role', 'delete', { id: role.id }));
    if (memberGroup) writes.push(write('memberGroup', 'delete', { id: memberGroup.id }));
    if (aclGroup) writes.push(write('aclGroup', 'delete', { id: aclGroup.id }));
  }
  return writes;
}

/**
 * group_type in CiviCRM's checkbox form, `{"2": 1}`, the one every version stores as meant: before
 * 4.7.16 CRM_Contact_BAO_Group::create read any array by its keys, turning a list `[2]` into type 0.
 */
function checkboxes(types: number[]): Record<string, 1> {
  return Object.fromEntries(types.filter((t) => t > 0).map((t) => [String(t), 1]));
}

function write(target: Target, action: 'create' | 'delete', params: Record<string, unknown>): Operation {
  return { kind: 'write', target, entity: ENTITY[target], action, params };
}

function uniqueById<T extends { id: number }>(rows: T[]): T[] {
  return [...new Map(rows.map((r) => [r.id, r])).values()];
}
