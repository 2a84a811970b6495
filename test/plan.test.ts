// The group plan driven to convergence against a tiny in-memory "CiviCRM": reads filter
// its rows, writes create, update and delete them and answer as API v3 does (strings,
// NULLs left out, partial answers to updates). No server, no I/O.
import { beforeEach, describe, expect, it } from 'vitest';
import type { OnGroupDelete } from '../src/config.js';
import { aclSource, memberSource } from '../src/sync/naming.js';
import { fold } from '../src/sync/observe.js';
import {
  planGroup,
  resolve,
  type DesiredGroup,
  type Observation,
  type Operation,
  type PlanHint,
  type PlanSettings,
} from '../src/sync/plan.js';
import type { ObjectTable } from '../src/sync/records.js';

type Row = Record<string, unknown>;
type Entity = 'Group' | 'OptionValue' | 'AclRole' | 'Acl';

/** The columns of each table; API v3 ignores any other param, in a filter or a create. */
const FIELDS: Record<Entity, string[]> = {
  Group: ['id', 'name', 'title', 'description', 'source', 'is_active', 'visibility', 'group_type'],
  OptionValue: ['id', 'option_group_id', 'label', 'value', 'name', 'description', 'is_active', 'weight'],
  AclRole: ['id', 'acl_role_id', 'entity_table', 'entity_id', 'is_active'],
  Acl: ['id', 'name', 'operation', 'entity_table', 'entity_id', 'object_table', 'object_id', 'is_active', 'deny', 'priority'],
};

const DEFAULTS: Record<Entity, Row> = {
  Group: { is_active: '1', visibility: 'User and User Admin Only' },
  OptionValue: { is_active: '1' },
  AclRole: { is_active: '1' },
  Acl: { is_active: '1', deny: '0', priority: '0' },
};

class CiviFailure extends Error {}

/** MySQL's case-insensitive collation. */
const same = (a: unknown, b: unknown) => a !== undefined && a !== null && String(a).toLowerCase() === String(b).toLowerCase();
const chars = (text: unknown) => Array.from(String(text)).length;

/** A value as CiviCRM answers it: a string (arrays of strings for group_type, a checkbox map by its keys). */
function civiValue(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(String);
  if (typeof value === 'object' && value !== null) return Object.keys(value);
  if (typeof value === 'boolean') return value ? '1' : '0';
  return String(value);
}

class FakeCivi {
  readonly tables: Record<Entity, Row[]> = { Group: [], OptionValue: [], AclRole: [], Acl: [] };
  /** Every write the plan sent, in order. */
  readonly writes: Operation[] = [];
  private readonly nextId: Record<Entity, number> = { Group: 100, OptionValue: 500, AclRole: 700, Acl: 900 };

  constructor(private readonly options: { fullUpdateAnswers?: boolean } = {}) {
    // CiviCRM's own ACL roles.
    this.insert('OptionValue', { option_group_id: 'acl_role', label: 'Administrator', name: 'Admin', value: 1 });
    this.insert('OptionValue', { option_group_id: 'acl_role', label: 'Authenticated', name: 'Auth', value: 2 });
    // More groups than the default page of 25, so a read without `limit: 0` misses some.
    for (let i = 1; i <= 30; i++) this.insert('Group', { title: `Newsletter ${i}`, name: `newsletter_${i}`, group_type: [2] });
  }

  /** Puts a row in as a seed (what another module or an admin made). */
  insert(entity: Entity, fields: Row): Row {
    return this.create(entity, fields);
  }

  groups(): Row[] {
    return this.tables.Group;
  }

  group(id: unknown): Row | undefined {
    return this.tables.Group.find((r) => same(r.id, id));
  }

  groupBySource(source: string): Row[] {
    return this.tables.Group.filter((r) => same(r.source, source));
  }

  /** Rows as an API `get` of that entity with `params` would answer them. */
  get(entity: Entity, params: Row): Row[] {
    const rows = this.tables[entity].filter((row) => this.matches(entity, row, params));
    const limit = (params.options as { limit?: number } | undefined)?.limit ?? 25;
    return structuredClone(limit === 0 ? rows : rows.slice(0, limit));
  }

  /** Answers one planned operation with the `values` CiviCRM would send, or throws like a failed call. */
  answer(op: Operation): Row[] {
    const entity = op.entity as Entity;
    if (!(entity in this.tables)) throw new Error(`fake CiviCRM: unknown entity ${op.entity}`);
    if (op.kind === 'read') return this.get(entity, op.params);
    this.writes.push(op);
    if (op.action === 'delete') return this.delete(entity, op.params);
    // An empty id (undefined, or the 0 that sidesteps the AclRole alias) creates.
    return !op.params.id ? [structuredClone(this.create(entity, op.params))] : this.update(entity, op.params);
  }

  private matches(entity: Entity, row: Row, params: Row): boolean {
    return Object.entries(params).every(([field, want]) => {
      if (!FIELDS[entity].includes(field)) return true;
      if (want !== null && typeof want === 'object' && !Array.isArray(want)) {
        const [entry, ...more] = Object.entries(want);
        if (!entry || more.length > 0) throw new Error(`fake CiviCRM: operator ${JSON.stringify(want)}`);
        const [operator, operand] = entry;
        if (operator === 'IN') return (operand as unknown[]).some((w) => same(row[field], w));
        if (operator === '>') return Number(row[field]) > Number(operand);
        throw new Error(`fake CiviCRM: operator ${operator}`);
      }
      return same(row[field], want);
    });
  }

  private known(entity: Entity, params: Row): Row {
    const row: Row = {};
    for (const [field, value] of Object.entries(params)) {
      if (field !== 'id' && FIELDS[entity].includes(field) && value !== undefined && value !== null) row[field] = civiValue(value);
    }
    return row;
  }

  private create(entity: Entity, params: Row): Row {
    const row: Row = { ...DEFAULTS[entity], ...this.known(entity, params) };
    row.id = String(params.id || this.nextId[entity]++);
    if (entity === 'Group') {
      if (row.title === undefined) throw new CiviFailure('Mandatory key(s) missing from params array: title');
      // CiviCRM derives a name from the title when none is sent; the service must always send one.
      row.name ??= String(row.title).replace(/\W/g, '_').slice(0, 60);
    }
    if (entity === 'OptionValue') {
      if (row.value === undefined) {
        const values = this.tables.OptionValue.filter((r) => same(r.option_group_id, row.option_group_id)).map((r) => Number(r.value));
        row.value = String(Math.max(0, ...values) + 1);
      }
      row.name ??= row.label;
      row.weight ??= row.value;
    }
    this.check(entity, row);
    this.tables[entity].push(row);
    return row;
  }

  private update(entity: Entity, params: Row): Row[] {
    const row = this.tables[entity].find((r) => same(r.id, params.id));
    if (!row) throw new CiviFailure(`${entity} ${String(params.id)} does not exist`);
    const changes = this.known(entity, params);
    const updated = { ...row, ...changes };
    this.check(entity, updated);
    Object.assign(row, changes);
    // A DAO saved with an id answers with what was set, not the whole record.
    return [structuredClone(this.options.fullUpdateAnswers ? row : { id: row.id, ...changes })];
  }

  private delete(entity: Entity, params: Row): Row[] {
    const table = this.tables[entity];
    const at = table.findIndex((r) => same(r.id, params.id));
    if (params.id === undefined || at < 0) throw new CiviFailure(`Could not delete ${entity} ${String(params.id)}`);
    const [row] = table.splice(at, 1);
    // Group.delete also removes the ACL entity roles that point at the group.
    if (entity === 'Group') {
      this.tables.AclRole = this.tables.AclRole.filter((r) => !(same(r.entity_table, 'civicrm_group') && same(r.entity_id, row!.id)));
    }
    return [];
  }

  /** The constraints of the schema: a plan that breaks one fails as it would against CiviCRM. */
  private check(entity: Entity, row: Row): void {
    const others = this.tables[entity].filter((r) => r.id !== row.id);
    if (entity === 'Group') {
      if (chars(row.title) > 255) throw new CiviFailure(`Value for title is ${chars(row.title)} characters - maxlength 255`);
      if (chars(row.name) > 64) throw new CiviFailure(`Value for name is ${chars(row.name)} characters - This field has a maxlength of 64 characters.`);
      if (row.source !== undefined && chars(row.source) > 64) throw new CiviFailure('Value for source is too long');
      if (others.some((r) => same(r.title, row.title))) throw new CiviFailure(`DB Error: already exists (title ${String(row.title)})`);
      if (others.some((r) => same(r.name, row.name))) throw new CiviFailure(`DB Error: already exists (name ${String(row.name)})`);
    }
    if (entity === 'OptionValue') {
      const dup = others.some((r) => same(r.option_group_id, row.option_group_id) && same(r.value, row.value));
      if (dup) throw new CiviFailure('Value already exists in the database');
    }
    if (entity === 'AclRole' || entity === 'Acl') {
      for (const field of ['entity_table', 'entity_id']) if (row[field] === undefined) throw new CiviFailure(`Mandatory key(s) missing: ${field}`);
    }
    if (entity === 'Acl' && row.name !== undefined && chars(row.name) > 64) throw new CiviFailure('Value for name is too long');
  }
}

// ---------------------------------------------------------------------------------------

const OG = 42;
const TITLE = 'Chess Club';
const ADMIN = 'Chess Club: Administrator';
const MEMBER_SOURCE = 'OG Sync Group :42:';
const ACL_SOURCE = 'OG Sync Group ACL :42:';

const settings = (overrides: Partial<PlanSettings> = {}): PlanSettings => ({
  onGroupDelete: 'disable',
  objectTable: 'civicrm_group',
  ...overrides,
});

const desired = (overrides: Partial<DesiredGroup> = {}): DesiredGroup => ({
  ogId: OG,
  title: TITLE,
  description: 'We play chess on Tuesdays',
  deleted: false,
  ...overrides,
});

interface SyncRun {
  /** The non-empty rounds, in order. */
  rounds: Operation[][];
  observed: Observation;
  /** What the next sync could pass as its hint. */
  hint: PlanHint;
}

/** Plans, answers and folds until a plan is empty, as the reconciler does. */
function sync(civi: FakeCivi, want: DesiredGroup, s: PlanSettings = settings(), hint: PlanHint = {}): SyncRun {
  let observed: Observation = {};
  const rounds: Operation[][] = [];
  for (let round = 0; round < 12; round++) {
    const ops = planGroup(want, observed, s, hint);
    if (ops.length === 0) {
      const known = resolve(want.ogId, observed);
      return { rounds, observed, hint: { roleValue: known.role?.value, aclGroupId: known.aclGroup?.id } };
    }
    rounds.push(ops);
    for (const op of ops) observed = fold(observed, op, civi.answer(op));
  }
  throw new Error(`no convergence after 12 rounds: ${JSON.stringify(rounds.at(-1))}`);
}

const writesOf = (run: SyncRun) => run.rounds.flat().filter((op) => op.kind === 'write');
const readsOnly = (run: SyncRun) => run.rounds.every((round) => round.every((op) => op.kind === 'read'));
const describeOps = (ops: Operation[]) =>
  ops.map((op) => (op.kind === 'read' ? `read ${op.target}` : `${op.action} ${op.target}${!op.params.id ? '' : ` ${String(op.params.id)}`}`));

/** Everything of OG `ogId` in the fake, found by source, role description and links. */
function ours(civi: FakeCivi, ogId = OG) {
  const members = civi.groupBySource(memberSource(ogId));
  const aclGroups = civi.groupBySource(aclSource(ogId));
  const roles = civi.tables.OptionValue.filter((r) => same(r.option_group_id, 'acl_role') && same(r.description, aclSource(ogId)));
  const values = new Set(roles.map((r) => String(r.value)));
  const aclGroupIds = new Set(aclGroups.map((g) => String(g.id)));
  const entityRoles = civi.tables.AclRole.filter(
    (r) => values.has(String(r.acl_role_id)) || (same(r.entity_table, 'civicrm_group') && aclGroupIds.has(String(r.entity_id))),
  );
  const acls = civi.tables.Acl.filter((a) => same(a.entity_table, 'civicrm_acl_role') && values.has(String(a.entity_id)));
  return { members, aclGroups, roles, entityRoles, acls, member: members[0], aclGroup: aclGroups[0], role: roles[0] };
}

/** The whole set the contract asks for, exactly once each. */
function expectContractRecords(
  civi: FakeCivi,
  { ogId = OG, member = TITLE, admin = ADMIN, description, objectTable = 'civicrm_group' as ObjectTable } = {} as {
    ogId?: number;
    member?: string;
    admin?: string;
    description?: string;
    objectTable?: ObjectTable;
  },
) {
  const mine = ours(civi, ogId);
  expect(mine.members).toHaveLength(1);
  expect(mine.aclGroups).toHaveLength(1);
  expect(mine.roles).toHaveLength(1);
  expect(mine.entityRoles).toHaveLength(1);
  expect(mine.acls).toHaveLength(1);
  const { member: m, aclGroup: g, role: r } = mine;
  expect(m).toMatchObject({ title: member, source: memberSource(ogId), is_active: '1' });
  expect(m!.group_type).toContain('2');
  if (description !== undefined) expect(m!.description).toBe(description);
  expect(g).toMatchObject({ title: admin, source: aclSource(ogId), is_active: '1' });
  expect(g!.group_type).toContain('1');
  expect(r).toMatchObject({ option_group_id: 'acl_role', label: admin, description: aclSource(ogId), is_active: '1' });
  expect(mine.entityRoles[0]).toMatchObject({
    acl_role_id: r!.value,
    entity_table: 'civicrm_group',
    entity_id: g!.id,
    is_active: '1',
  });
  expect(mine.acls[0]).toMatchObject({
    operation: 'Edit',
    entity_table: 'civicrm_acl_role',
    entity_id: r!.value,
    object_table: objectTable,
    object_id: m!.id,
    is_active: '1',
    deny: '0',
  });
  return mine;
}

/** A second sync of the same wish finds nothing to do: reads only, with or without the hint. */
function expectStable(civi: FakeCivi, want: DesiredGroup, s: PlanSettings = settings(), hint?: PlanHint) {
  const before = structuredClone(civi.tables);
  const again = sync(civi, want, s);
  expect(readsOnly(again), describeOps(again.rounds.flat()).join(', ')).toBe(true);
  expect(again.rounds.length).toBeLessThanOrEqual(2);
  if (hint) {
    const hinted = sync(civi, want, s, hint);
    expect(readsOnly(hinted)).toBe(true);
    expect(hinted.rounds).toHaveLength(1);
  }
  expect(civi.tables).toEqual(before);
}

/** A fake holding a converged OG `ogId` as the service makes it. */
function converged(want: DesiredGroup = desired(), s: PlanSettings = settings(), civi = new FakeCivi()) {
  const run = sync(civi, want, s);
  return { civi, run, ids: ids(civi, want.ogId) };
}

function ids(civi: FakeCivi, ogId = OG) {
  const mine = ours(civi, ogId);
  return {
    member: mine.member?.id,
    acl: mine.aclGroup?.id,
    role: mine.role?.id,
    value: mine.role?.value,
    entityRole: mine.entityRoles[0]?.id,
    aclRecord: mine.acls[0]?.id,
  };
}

// ---------------------------------------------------------------------------------------

describe('the first round', () => {
  it('reads our groups by source, our role by description and the wanted titles, all rows each', () => {
    const ops = planGroup(desired(), {}, settings());
    expect(ops).toEqual([
      {
        kind: 'read',
        target: 'groups',
        entity: 'Group',
        params: { source: { IN: [MEMBER_SOURCE, ACL_SOURCE] }, options: { limit: 0 } },
      },
      {
        kind: 'read',
        target: 'roles',
        entity: 'OptionValue',
        params: { option_group_id: 'acl_role', description: ACL_SOURCE, options: { limit: 0 } },
      },
      {
        kind: 'read',
        target: 'titleHolders',
        entity: 'Group',
        params: { title: { IN: [TITLE, ADMIN] }, options: { limit: 0 } },
        titles: [TITLE, ADMIN],
      },
    ]);
  });

  it('never looks a group up by title and source together (the OR that took over unrelated groups)', () => {
    for (const op of planGroup(desired(), {}, settings())) {
      if (op.entity !== 'Group') continue;
      expect(Object.keys(op.params).filter((k) => k !== 'options')).toHaveLength(1);
    }
  });

  it('plans no write before our groups and role are observed', () => {
    const partial: Observation[] = [
      {},
      { groups: [] },
      { roles: [] },
      { titleHolders: { titles: [TITLE, ADMIN], rows: [] } },
      { groups: [], titleHolders: { titles: [TITLE, ADMIN], rows: [] } },
      { roles: [], titleHolders: { titles: [TITLE, ADMIN], rows: [] } },
    ];
    for (const observed of partial) {
      for (const want of [desired(), desired({ deleted: true })]) {
        for (const onGroupDelete of ['disable', 'delete', 'keep'] as const) {
          expect(planGroup(want, observed, settings({ onGroupDelete })).every((op) => op.kind === 'read')).toBe(true);
        }
      }
    }
  });

  it('plans no group write before the title holders of the wanted titles are observed', () => {
    const ops = planGroup(desired(), { groups: [], roles: [], titleHolders: { titles: ['Old', 'Old: Administrator'], rows: [] } }, settings());
    expect(ops.every((op) => op.kind === 'read')).toBe(true);
    expect(ops.map((op) => op.target)).toEqual(['titleHolders']);
  });
});

describe('a brand-new group', () => {
  let civi: FakeCivi;
  let run: SyncRun;
  beforeEach(() => {
    civi = new FakeCivi();
    run = sync(civi, desired());
  });

  it('is made in 3 rounds: reads, then groups and role, then entity role and ACL (checking the new role value for stale rows)', () => {
    expect(run.rounds.map(describeOps)).toEqual([
      ['read groups', 'read roles', 'read titleHolders'],
      ['create memberGroup', 'create aclGroup', 'create role'],
      ['read roleEntityRoles', 'read acls', 'create entityRole', 'create acl'],
    ]);
  });

  it('gets the member group of the contract', () => {
    const { member } = ours(civi);
    expect(member).toEqual({
      id: member!.id,
      title: TITLE,
      name: 'og_sync_42',
      source: MEMBER_SOURCE,
      description: 'We play chess on Tuesdays',
      group_type: ['2'],
      is_active: '1',
      visibility: 'User and User Admin Only',
    });
  });

  it('gets the ACL group of the contract', () => {
    const { aclGroup } = ours(civi);
    expect(aclGroup).toEqual({
      id: aclGroup!.id,
      title: ADMIN,
      name: 'og_sync_acl_42',
      source: ACL_SOURCE,
      group_type: ['1'],
      is_active: '1',
      visibility: 'User and User Admin Only',
    });
  });

  it('gets an ACL role with a new value, labelled and described as in the contract', () => {
    const { role } = ours(civi);
    expect(role).toMatchObject({ option_group_id: 'acl_role', label: ADMIN, description: ACL_SOURCE, value: '3', is_active: '1' });
  });

  it('links the role VALUE (not its id) to the ACL group', () => {
    const { role, aclGroup, entityRoles } = ours(civi);
    expect(role!.value).not.toBe(role!.id);
    expect(entityRoles).toEqual([
      { id: entityRoles[0]!.id, acl_role_id: role!.value, entity_table: 'civicrm_group', entity_id: aclGroup!.id, is_active: '1' },
    ]);
  });

  it('gets an Edit ACL of the role on the member group', () => {
    const { role, member, acls } = ours(civi);
    expect(acls).toEqual([
      {
        id: acls[0]!.id,
        name: 'OG Sync ACL :42:',
        operation: 'Edit',
        entity_table: 'civicrm_acl_role',
        entity_id: role!.value,
        object_table: 'civicrm_group',
        object_id: member!.id,
        is_active: '1',
        deny: '0',
        priority: '0',
      },
    ]);
  });

  it('makes nothing else', () => {
    expect(civi.tables.Group).toHaveLength(32);
    expect(civi.tables.OptionValue).toHaveLength(3);
    expect(civi.tables.AclRole).toHaveLength(1);
    expect(civi.tables.Acl).toHaveLength(1);
    expect(civi.writes).toHaveLength(5);
  });

  it('sends every group an explicit name', () => {
    for (const op of civi.writes) if (op.entity === 'Group' && op.params.id === undefined) expect(op.params.name).toBeTruthy();
  });

  it("sends group_type in CiviCRM's checkbox form, which versions before 4.7.16 do not misread", () => {
    const types = civi.writes.filter((op) => op.entity === 'Group').map((op) => op.params.group_type);
    expect(types).toEqual([{ '2': 1 }, { '1': 1 }]);
  });

  it('is left alone by the next sync, which only reads (2 rounds, or 1 with the hint)', () => {
    expect(run.hint).toEqual({ roleValue: 3, aclGroupId: Number(ours(civi).aclGroup!.id) });
    expectStable(civi, desired(), settings(), run.hint);
  });

  it('ends with an observation that matches CiviCRM', () => {
    const fresh = sync(civi, desired()).observed;
    const sortById = <T extends { id: number }>(rows: T[] | undefined) => [...(rows ?? [])].sort((a, b) => a.id - b.id);
    expect(sortById(run.observed.groups)).toEqual(sortById(fresh.groups));
    expect(run.observed.roles).toEqual(fresh.roles);
    expect(sortById(run.observed.acls?.rows)).toEqual(sortById(fresh.acls?.rows));
    expect(sortById(run.observed.roleEntityRoles?.rows)).toEqual(sortById(fresh.roleEntityRoles?.rows));
    expect(sortById(run.observed.groupEntityRoles?.rows)).toEqual(sortById(fresh.groupEntityRoles?.rows));
  });
});

describe('object_table of the ACL', () => {
  it.each<[ObjectTable, string]>([
    ['civicrm_group', 'CiviCRM 5.64 and later'],
    ['civicrm_saved_search', 'before 5.64'],
  ])('is %s (%s)', (objectTable) => {
    const { civi } = converged(desired(), settings({ objectTable }));
    expectContractRecords(civi, { objectTable });
    expectStable(civi, desired(), settings({ objectTable }));
  });

  it('is switched by replacing the ACL when CiviCRM moves from 5.63 to 5.64', () => {
    const { civi, ids: before, run } = converged(desired(), settings({ objectTable: 'civicrm_saved_search' }));
    const upgrade = sync(civi, desired(), settings({ objectTable: 'civicrm_group' }), run.hint);
    expect(writesOf(upgrade).map((op) => `${op.action} ${op.target}`)).toEqual(['delete acl', 'create acl']);
    expect(writesOf(upgrade)[0]!.params).toEqual({ id: Number(before.aclRecord) });
    expectContractRecords(civi, { objectTable: 'civicrm_group' });
    const after = ids(civi);
    expect({ ...after, aclRecord: undefined }).toEqual({ ...before, aclRecord: undefined });
    expect(after.aclRecord).not.toBe(before.aclRecord);
    expectStable(civi, desired(), settings({ objectTable: 'civicrm_group' }));
  });
});

describe('an already converged group', () => {
  it('plans only reads, then nothing', () => {
    const { civi } = converged();
    const run = sync(civi, desired());
    expect(run.rounds.map(describeOps)).toEqual([
      ['read groups', 'read roles', 'read titleHolders'],
      ['read roleEntityRoles', 'read acls', 'read groupEntityRoles'],
    ]);
    expect(civi.writes).toHaveLength(5);
  });

  it('with the hint plans one round of reads, then nothing', () => {
    const { civi, run: first } = converged();
    const run = sync(civi, desired(), settings(), first.hint);
    expect(run.rounds.map(describeOps)).toEqual([
      ['read groups', 'read roles', 'read titleHolders', 'read roleEntityRoles', 'read acls', 'read groupEntityRoles'],
    ]);
  });

  it('converges the same when updates are answered with the whole record', () => {
    const civi = new FakeCivi({ fullUpdateAnswers: true });
    sync(civi, desired());
    const run = sync(civi, desired({ title: 'Go Club' }));
    expect(run.rounds).toHaveLength(2);
    expectContractRecords(civi, { member: 'Go Club', admin: 'Go Club: Administrator' });
    expectStable(civi, desired({ title: 'Go Club' }));
  });
});

describe('a renamed group', () => {
  it('renames both groups and the role label, keeping every id and making no new rows', () => {
    const { civi, ids: before } = converged();
    const counts = Object.fromEntries(Object.entries(civi.tables).map(([k, v]) => [k, v.length]));
    const run = sync(civi, desired({ title: 'Go Club' }));
    expect(run.rounds.map(describeOps)).toEqual([
      ['read groups', 'read roles', 'read titleHolders'],
      [
        'read roleEntityRoles',
        'read acls',
        'read groupEntityRoles',
        `create memberGroup ${before.member}`,
        `create aclGroup ${before.acl}`,
        `create role ${before.role}`,
      ],
    ]);
    expectContractRecords(civi, { member: 'Go Club', admin: 'Go Club: Administrator' });
    expect(ids(civi)).toEqual(before);
    expect(Object.fromEntries(Object.entries(civi.tables).map(([k, v]) => [k, v.length]))).toEqual(counts);
    expectStable(civi, desired({ title: 'Go Club' }));
  });

  it('keeps the role VALUE, so no entity role is orphaned however often it is saved', () => {
    const { civi, ids: before } = converged();
    for (const title of ['Go Club', 'Bridge Club', 'Chess Club', 'Go Club']) {
      const run = sync(civi, desired({ title }));
      for (const op of writesOf(run)) expect(op.target === 'entityRole' || op.target === 'acl').toBe(false);
      for (const op of writesOf(run)) if (op.target === 'role') expect(op.params).not.toHaveProperty('value');
    }
    expect(civi.tables.AclRole).toHaveLength(1);
    expect(civi.tables.Acl).toHaveLength(1);
    expect(ids(civi)).toEqual(before);
  });

  it('sends only the changed fields on update', () => {
    const { civi } = converged();
    const run = sync(civi, desired({ title: 'Go Club' }));
    expect(writesOf(run).map((op) => op.params)).toEqual([
      { id: expect.any(Number), title: 'Go Club' },
      { id: expect.any(Number), title: 'Go Club: Administrator' },
      { id: expect.any(Number), label: 'Go Club: Administrator', is_active: 1 },
    ]);
  });

  it('renames when only the case changes', () => {
    const { civi, ids: before } = converged();
    sync(civi, desired({ title: 'chess club' }));
    expectContractRecords(civi, { member: 'chess club', admin: 'chess club: Administrator' });
    expect(ids(civi)).toEqual(before);
  });

  it('updates the description alone when only it changed', () => {
    const { civi } = converged();
    const run = sync(civi, desired({ description: 'Now on Thursdays' }));
    expect(writesOf(run).map((op) => op.params)).toEqual([{ id: Number(ours(civi).member!.id), description: 'Now on Thursdays' }]);
    expect(ours(civi).member!.description).toBe('Now on Thursdays');
  });

  it('cuts a 300-character title to fit both groups and the role label', () => {
    const long = 'L'.repeat(300);
    const { civi } = converged(desired({ title: long }));
    expectContractRecords(civi, { member: 'L'.repeat(255), admin: `${'L'.repeat(240)}: Administrator` });
    expectStable(civi, desired({ title: long }));
  });
});

describe('adopting what the old OG sync module made', () => {
  /** The old module's records: its own names, titles from back then, ACL on civicrm_saved_search. */
  function oldModule(civi: FakeCivi, title = 'Chess club (old)') {
    const member = civi.insert('Group', {
      title,
      name: 'Chess_club_old',
      source: MEMBER_SOURCE,
      group_type: '\x012\x01',
      description: 'We play chess on Tuesdays',
    });
    const aclGroup = civi.insert('Group', {
      title: `${title}: Administrator`,
      name: 'Chess_club_old_Administrator',
      source: ACL_SOURCE,
      group_type: '\x011\x01',
    });
    const role = civi.insert('OptionValue', { option_group_id: 'acl_role', label: `${title}: Administrator`, description: ACL_SOURCE });
    const entityRole = civi.insert('AclRole', { acl_role_id: role.value, entity_table: 'civicrm_group', entity_id: aclGroup.id });
    const acl = civi.insert('Acl', {
      name: `${title}: Administrator`,
      operation: 'Edit',
      entity_table: 'civicrm_acl_role',
      entity_id: role.value,
      object_table: 'civicrm_saved_search',
      object_id: member.id,
    });
    return { member, aclGroup, role, entityRole, acl };
  }

  it('reuses the groups, role, entity role and ACL (pre-5.64), renaming the groups and role', () => {
    const civi = new FakeCivi();
    const old = oldModule(civi);
    const counts = Object.fromEntries(Object.entries(civi.tables).map(([k, v]) => [k, v.length]));
    sync(civi, desired(), settings({ objectTable: 'civicrm_saved_search' }));
    const mine = expectContractRecords(civi, { objectTable: 'civicrm_saved_search' });
    expect(mine.member!.id).toBe(old.member.id);
    expect(mine.aclGroup!.id).toBe(old.aclGroup.id);
    expect(mine.role!.id).toBe(old.role.id);
    expect(mine.entityRoles[0]!.id).toBe(old.entityRole.id);
    expect(mine.acls[0]!.id).toBe(old.acl.id);
    // No duplicate anywhere.
    expect(Object.fromEntries(Object.entries(civi.tables).map(([k, v]) => [k, v.length]))).toEqual(counts);
    // The names the old module gave are unique already and stay.
    expect(mine.member!.name).toBe('Chess_club_old');
    expect(civi.writes.every((op) => op.kind === 'write' && op.action === 'create' && op.params.id !== undefined)).toBe(true);
    expectStable(civi, desired(), settings({ objectTable: 'civicrm_saved_search' }));
  });

  it('makes no write at all when the old module left exactly what is wanted', () => {
    const civi = new FakeCivi();
    oldModule(civi, TITLE);
    const run = sync(civi, desired(), settings({ objectTable: 'civicrm_saved_search' }));
    expect(writesOf(run)).toEqual([]);
    expect(run.rounds).toHaveLength(2);
  });

  it('reuses the groups on 5.64+ and replaces only the ACL', () => {
    const civi = new FakeCivi();
    const old = oldModule(civi, TITLE);
    const run = sync(civi, desired());
    expect(writesOf(run).map((op) => `${op.action} ${op.target}`)).toEqual(['delete acl', 'create acl']);
    const mine = expectContractRecords(civi);
    expect(mine.member!.id).toBe(old.member.id);
    expect(mine.aclGroup!.id).toBe(old.aclGroup.id);
  });

  it('removes the entity roles that the old module leaked on each save (role value recomputed)', () => {
    const civi = new FakeCivi();
    const old = oldModule(civi, TITLE);
    // Earlier values of the role, each left linked to the ACL group.
    const leaked = [civi.insert('AclRole', { acl_role_id: 17, entity_table: 'civicrm_group', entity_id: old.aclGroup.id })];
    leaked.push(civi.insert('AclRole', { acl_role_id: 18, entity_table: 'civicrm_group', entity_id: old.aclGroup.id }));
    sync(civi, desired(), settings({ objectTable: 'civicrm_saved_search' }));
    const mine = expectContractRecords(civi, { objectTable: 'civicrm_saved_search' });
    expect(mine.entityRoles[0]!.id).toBe(old.entityRole.id);
    for (const row of leaked) expect(civi.tables.AclRole).not.toContainEqual(row);
  });

  it('adopts groups whose source differs only in case', () => {
    const civi = new FakeCivi();
    const member = civi.insert('Group', { title: 'x', name: 'x', source: MEMBER_SOURCE.toLowerCase(), group_type: [2] });
    sync(civi, desired());
    expect(civi.groups().filter((g) => same(g.source, MEMBER_SOURCE))).toHaveLength(1);
    expect(civi.group(member.id)!.title).toBe(TITLE);
  });

  it('makes the role, entity role and ACL when the old module left only the groups', () => {
    const civi = new FakeCivi();
    const member = civi.insert('Group', { title: TITLE, name: 'Chess_Club', source: MEMBER_SOURCE, group_type: [2] });
    const aclGroup = civi.insert('Group', { title: ADMIN, name: 'Chess_Club_Admin', source: ACL_SOURCE, group_type: [1] });
    const run = sync(civi, desired({ description: undefined }));
    expect(describeOps(writesOf(run))).toEqual(['create role', 'create entityRole', 'create acl']);
    const mine = expectContractRecords(civi);
    expect(mine.member!.id).toBe(member.id);
    expect(mine.aclGroup!.id).toBe(aclGroup.id);
  });

  it('takes the oldest group when the old module made one twice, and does not touch the other', () => {
    const civi = new FakeCivi();
    const first = civi.insert('Group', { title: 'Chess 1', name: 'chess_1', source: MEMBER_SOURCE, group_type: [2] });
    const second = civi.insert('Group', { title: 'Chess 2', name: 'chess_2', source: MEMBER_SOURCE, group_type: [2] });
    const secondBefore = structuredClone(second);
    sync(civi, desired());
    expect(civi.group(first.id)!.title).toBe(TITLE);
    expect(civi.group(second.id)).toEqual(secondBefore);
    expect(civi.groupBySource(MEMBER_SOURCE)).toHaveLength(2);
    expect(civi.tables.Acl[0]!.object_id).toBe(first.id);
  });

  it('adds the missing group type and reactivates a disabled group, keeping its other types', () => {
    const civi = new FakeCivi();
    const member = civi.insert('Group', { title: TITLE, name: 'cc', source: MEMBER_SOURCE, group_type: [1], is_active: 0 });
    sync(civi, desired());
    expect(civi.group(member.id)).toMatchObject({ is_active: '1', group_type: ['1', '2'] });
    expectStable(civi, desired());
  });
});

describe('a title held by a group that is not ours', () => {
  it.each([
    ['another source', { source: 'CSV import' }],
    ['no source', {}],
    ['the source of another OG', { source: 'OG Sync Group :421:' }],
  ])('(%s) is never touched; ours get the ` (OG N)` suffix', (_, extra) => {
    const civi = new FakeCivi();
    const foreign = civi.insert('Group', { title: TITLE, name: 'chess_club', group_type: [2], ...extra });
    const before = structuredClone(foreign);
    const run = sync(civi, desired());
    expectContractRecords(civi, { member: 'Chess Club (OG 42)', admin: 'Chess Club (OG 42): Administrator' });
    expect(civi.group(foreign.id)).toEqual(before);
    for (const op of writesOf(run)) expect(op.params.id === undefined || !same(op.params.id, foreign.id)).toBe(true);
    expect(ours(civi).member!.id).not.toBe(foreign.id);
    expectStable(civi, desired());
  });

  it('clashes also when it differs only in case (MySQL collation)', () => {
    const civi = new FakeCivi();
    civi.insert('Group', { title: 'CHESS CLUB', name: 'chess_club' });
    sync(civi, desired());
    expectContractRecords(civi, { member: 'Chess Club (OG 42)', admin: 'Chess Club (OG 42): Administrator' });
  });

  it('clashes when only the ACL title is taken', () => {
    const civi = new FakeCivi();
    const foreign = civi.insert('Group', { title: ADMIN, name: 'chess_admins', group_type: [1] });
    sync(civi, desired());
    expectContractRecords(civi, { member: 'Chess Club (OG 42)', admin: 'Chess Club (OG 42): Administrator' });
    expect(civi.group(foreign.id)!.title).toBe(ADMIN);
  });

  it('renames our existing groups to the suffixed titles when a rename meets a taken title', () => {
    const { civi, ids: before } = converged();
    civi.insert('Group', { title: 'Go Club', name: 'go_club' });
    sync(civi, desired({ title: 'Go Club' }));
    expectContractRecords(civi, { member: 'Go Club (OG 42)', admin: 'Go Club (OG 42): Administrator' });
    expect(ids(civi)).toEqual(before);
  });

  it('gives the plain titles back once the other group is gone', () => {
    const civi = new FakeCivi();
    const foreign = civi.insert('Group', { title: TITLE, name: 'chess_club' });
    sync(civi, desired());
    civi.tables.Group = civi.tables.Group.filter((g) => g !== foreign);
    sync(civi, desired());
    expectContractRecords(civi);
  });

  it('keeps a 300-character title and the whole suffix within 255 characters', () => {
    const long = 'Q'.repeat(300);
    const civi = new FakeCivi();
    civi.insert('Group', { title: 'Q'.repeat(255), name: 'q' });
    sync(civi, desired({ title: long }));
    const { member, aclGroup, role } = ours(civi);
    expect(member!.title).toBe(`${'Q'.repeat(247)} (OG 42)`);
    expect(aclGroup!.title).toBe(`${'Q'.repeat(232)} (OG 42): Administrator`);
    expect(role!.label).toBe(aclGroup!.title);
    expectStable(civi, desired({ title: long }));
  });

  it('does not count our own groups as holders of the title', () => {
    const { civi } = converged();
    const run = sync(civi, desired());
    expect(run.observed.titleHolders!.rows).toHaveLength(2);
    expect(ours(civi).member!.title).toBe(TITLE);
  });
});

describe('a group without a title yet', () => {
  it('is made under the placeholder `OG N`, then renamed when the title arrives', () => {
    const civi = new FakeCivi();
    const untitled = desired({ title: undefined, description: undefined });
    sync(civi, untitled);
    expectContractRecords(civi, { member: 'OG 42', admin: 'OG 42: Administrator' });
    expect(ours(civi).member).not.toHaveProperty('description');
    expectStable(civi, untitled);
    const before = ids(civi);
    const run = sync(civi, desired());
    expect(writesOf(run).map((op) => `${op.action} ${op.target}`)).toEqual(['create memberGroup', 'create aclGroup', 'create role']);
    expectContractRecords(civi, { description: 'We play chess on Tuesdays' });
    expect(ids(civi)).toEqual(before);
  });

  it('keeps the title it has when only the description is unknown', () => {
    const { civi } = converged();
    const run = sync(civi, desired({ description: undefined }));
    expect(writesOf(run)).toEqual([]);
  });
});

describe('repairs', () => {
  it('deletes entity roles of our role that point elsewhere and keeps the right one', () => {
    const { civi, ids: before, run: first } = converged();
    const elsewhere = civi.insert('AclRole', { acl_role_id: before.value, entity_table: 'civicrm_group', entity_id: 7 });
    const contact = civi.insert('AclRole', { acl_role_id: before.value, entity_table: 'civicrm_contact', entity_id: 3 });
    const twin = civi.insert('AclRole', { acl_role_id: before.value, entity_table: 'civicrm_group', entity_id: before.acl });
    const unrelated = civi.insert('AclRole', { acl_role_id: 1, entity_table: 'civicrm_group', entity_id: 5 });
    const run = sync(civi, desired(), settings(), first.hint);
    const deleted = writesOf(run).filter((op) => op.action === 'delete').map((op) => op.params.id);
    expect(deleted.sort()).toEqual([elsewhere.id, contact.id, twin.id].map(Number).sort());
    expect(writesOf(run).every((op) => op.action === 'delete')).toBe(true);
    expect(ids(civi)).toEqual(before);
    expect(civi.tables.AclRole).toContainEqual(unrelated);
    expectContractRecords(civi);
  });

  it('replaces an inactive entity role', () => {
    const { civi, ids: before } = converged();
    civi.tables.AclRole.find((r) => same(r.id, before.entityRole))!.is_active = '0';
    sync(civi, desired());
    const mine = expectContractRecords(civi);
    expect(mine.entityRoles[0]!.id).not.toBe(before.entityRole);
  });

  it('never takes CiviCRM\'s own role values 0, 1 or 2 for the group\'s role, whatever their description', () => {
    for (const value of [0, 1, 2]) {
      const civi = new FakeCivi();
      const stock = civi.tables.OptionValue.find((r) => same(r.value, value)) ?? civi.insert('OptionValue', { option_group_id: 'acl_role', label: 'Everyone', value });
      const label = stock.label;
      stock.description = ACL_SOURCE;
      sync(civi, desired());
      const roles = civi.tables.OptionValue.filter((r) => r.description === ACL_SOURCE && !same(r.value, value));
      expect(roles).toHaveLength(1);
      expect(Number(roles[0]!.value)).toBeGreaterThan(2);
      expect(stock.label).toBe(label);
      expect(civi.tables.AclRole.map((r) => Number(r.acl_role_id))).toEqual([Number(roles[0]!.value)]);
      expect(civi.tables.Acl.map((a) => Number(a.entity_id))).toEqual([Number(roles[0]!.value)]);
    }
  });

  it('re-links the role when its entity role was deleted', () => {
    const { civi } = converged();
    civi.tables.AclRole = [];
    const run = sync(civi, desired());
    expect(writesOf(run).map((op) => `${op.action} ${op.target}`)).toEqual(['create entityRole']);
    expectContractRecords(civi);
  });

  it('deletes duplicate ACLs and ACLs of our role on anything else', () => {
    const { civi, ids: before } = converged();
    const acl = structuredClone(civi.tables.Acl[0]!);
    const { id: _, ...fields } = acl;
    const dup1 = civi.insert('Acl', fields);
    const dup2 = civi.insert('Acl', fields);
    const view = civi.insert('Acl', { ...fields, operation: 'View' });
    const other = civi.insert('Acl', { ...fields, object_id: 7 });
    const denied = civi.insert('Acl', { ...fields, deny: 1 });
    const inactive = civi.insert('Acl', { ...fields, is_active: 0 });
    const unrelated = civi.insert('Acl', { ...fields, entity_id: 1 });
    sync(civi, desired());
    expectContractRecords(civi);
    expect(ids(civi).aclRecord).toBe(before.aclRecord);
    for (const row of [dup1, dup2, view, other, denied, inactive]) expect(civi.tables.Acl.map((a) => a.id)).not.toContain(row.id);
    expect(civi.tables.Acl).toContainEqual(unrelated);
  });

  it('replaces a denying or inactive ACL', () => {
    for (const change of [{ deny: '1' }, { is_active: '0' }, { operation: 'View' }, { object_id: '7' }]) {
      const { civi, ids: before } = converged();
      Object.assign(civi.tables.Acl[0]!, change);
      sync(civi, desired());
      expectContractRecords(civi);
      expect(ids(civi).aclRecord).not.toBe(before.aclRecord);
    }
  });

  it('reactivates a role someone disabled', () => {
    const { civi, ids: before } = converged();
    civi.tables.OptionValue.find((r) => same(r.id, before.role))!.is_active = '0';
    sync(civi, desired());
    expectContractRecords(civi);
    expect(ids(civi)).toEqual(before);
  });

  it('remakes a deleted member group and points the ACL at the new one', () => {
    const { civi, ids: before } = converged();
    civi.tables.Group = civi.tables.Group.filter((g) => !same(g.id, before.member));
    sync(civi, desired());
    const mine = expectContractRecords(civi);
    expect(mine.member!.id).not.toBe(before.member);
    expect(ids(civi).acl).toBe(before.acl);
  });

  it('remakes a deleted role with a new value and relinks everything, leaving no entity role behind', () => {
    const { civi, ids: before } = converged();
    // Another ACL role with a higher value, so CiviCRM does not hand out the lost value again.
    civi.insert('OptionValue', { option_group_id: 'acl_role', label: 'Staff', value: 10 });
    civi.tables.OptionValue = civi.tables.OptionValue.filter((r) => !same(r.id, before.role));
    sync(civi, desired());
    const mine = expectContractRecords(civi);
    expect(mine.role!.value).toBe('11');
    // The entity role of the lost value sat on our ACL group: it is gone, not left behind.
    expect(civi.tables.AclRole).toHaveLength(1);
    expectStable(civi, desired());
  });

  // CiviCRM gives a new option value max(value) + 1, so after the role with the highest value
  // was deleted (by an admin, or by the old module) its value is handed out again; entity
  // roles and ACLs have no foreign key on it and may still carry it.
  it('gives a new role whose value CiviCRM reuses no stale entity role or ACL of that value', () => {
    const civi = new FakeCivi();
    const otherAclGroup = civi.insert('Group', { title: 'Old admins', name: 'old_admins', group_type: [1] });
    const otherGroup = civi.insert('Group', { title: 'Old members', name: 'old_members', group_type: [2] });
    // Left behind by a deleted role of value 3, the value our new role is about to get.
    civi.insert('AclRole', { acl_role_id: 3, entity_table: 'civicrm_group', entity_id: otherAclGroup.id });
    civi.insert('Acl', {
      operation: 'Edit',
      entity_table: 'civicrm_acl_role',
      entity_id: 3,
      object_table: 'civicrm_group',
      object_id: otherGroup.id,
    });
    sync(civi, desired());
    const mine = ours(civi);
    expect(mine.role!.value).toBe('3');
    // Otherwise the members of "Old admins" hold our role and may edit our member group.
    expect(civi.tables.AclRole.filter((r) => same(r.acl_role_id, 3))).toEqual(mine.entityRoles.filter((r) => same(r.entity_id, mine.aclGroup!.id)));
    expectContractRecords(civi);
  });

  it('ignores a wrong hint and reads the right keys before any write of the ACL chain', () => {
    const { civi, ids: before } = converged();
    // Role 1 is CiviCRM's Administrator: its rows must not be taken for ours.
    civi.insert('AclRole', { acl_role_id: 1, entity_table: 'civicrm_group', entity_id: 1 });
    civi.insert('Acl', { operation: 'Edit', entity_table: 'civicrm_acl_role', entity_id: 1, object_table: 'civicrm_group', object_id: 1 });
    const snapshot = structuredClone(civi.tables);
    const run = sync(civi, desired(), settings(), { roleValue: 1, aclGroupId: 1 });
    expect(writesOf(run)).toEqual([]);
    expect(civi.tables).toEqual(snapshot);
    expect(ids(civi)).toEqual(before);
    expect(run.rounds).toHaveLength(2);
  });
});

describe('several OG groups in one CiviCRM', () => {
  it('do not see each other, also when one id is a prefix of the other', () => {
    const civi = new FakeCivi();
    sync(civi, desired({ ogId: 1, title: 'One' }));
    sync(civi, desired({ ogId: 12, title: 'Twelve' }));
    sync(civi, desired({ ogId: 121, title: 'One' }));
    expectContractRecords(civi, { ogId: 1, member: 'One', admin: 'One: Administrator' });
    expectContractRecords(civi, { ogId: 12, member: 'Twelve', admin: 'Twelve: Administrator' });
    expectContractRecords(civi, { ogId: 121, member: 'One (OG 121)', admin: 'One (OG 121): Administrator' });
    expect(new Set(civi.tables.OptionValue.map((r) => r.value)).size).toBe(civi.tables.OptionValue.length);
    for (const [ogId, title] of [[1, 'One'], [12, 'Twelve'], [121, 'One']] as const) expectStable(civi, desired({ ogId, title }));
  });
});

describe('a deleted group', () => {
  const modes: OnGroupDelete[] = ['disable', 'delete', 'keep'];

  it('with ON_GROUP_DELETE=disable: both groups inactive, ACL deleted, role and entity role kept', () => {
    const { civi, ids: before } = converged();
    const run = sync(civi, desired({ deleted: true }), settings({ onGroupDelete: 'disable' }));
    expect(run.rounds.map(describeOps)).toEqual([
      ['read groups', 'read roles'],
      ['read roleEntityRoles', 'read acls', 'read groupEntityRoles'],
      [`delete acl ${before.aclRecord}`, `create memberGroup ${before.member}`, `create aclGroup ${before.acl}`],
    ]);
    const mine = ours(civi);
    expect(mine.member).toMatchObject({ id: before.member, is_active: '0', title: TITLE });
    expect(mine.aclGroup).toMatchObject({ id: before.acl, is_active: '0', title: ADMIN });
    expect(mine.roles.map((r) => r.id)).toEqual([before.role]);
    expect(mine.entityRoles.map((r) => r.id)).toEqual([before.entityRole]);
    expect(civi.tables.Acl).toEqual([]);
    expectStable(civi, desired({ deleted: true }), settings({ onGroupDelete: 'disable' }));
  });

  it('with ON_GROUP_DELETE=delete: ACLs, entity roles, role and both groups deleted', () => {
    const { civi, ids: before } = converged();
    const stray = civi.insert('AclRole', { acl_role_id: before.value, entity_table: 'civicrm_group', entity_id: 7 });
    const dup = civi.insert('Acl', { ...civi.tables.Acl[0]!, id: undefined });
    const unrelated = civi.insert('AclRole', { acl_role_id: 1, entity_table: 'civicrm_group', entity_id: 5 });
    const run = sync(civi, desired({ deleted: true }), settings({ onGroupDelete: 'delete' }));
    expect(run.rounds).toHaveLength(3);
    expect(describeOps(run.rounds[2]!).sort()).toEqual(
      [
        `delete acl ${before.aclRecord}`,
        `delete acl ${dup.id}`,
        `delete entityRole ${before.entityRole}`,
        `delete entityRole ${stray.id}`,
        `delete role ${before.role}`,
        `delete memberGroup ${before.member}`,
        `delete aclGroup ${before.acl}`,
      ].sort(),
    );
    const mine = ours(civi);
    expect([mine.members, mine.aclGroups, mine.roles, mine.entityRoles, mine.acls]).toEqual([[], [], [], [], []]);
    expect(civi.tables.Acl).toEqual([]);
    expect(civi.tables.AclRole).toEqual([unrelated]);
    expect(civi.tables.OptionValue).toHaveLength(2);
    expect(civi.tables.Group).toHaveLength(30);
    expectStable(civi, desired({ deleted: true }), settings({ onGroupDelete: 'delete' }));
  });

  it('with ON_GROUP_DELETE=keep: only the ACL deleted', () => {
    const { civi, ids: before } = converged();
    const groupsBefore = structuredClone(civi.tables.Group);
    const run = sync(civi, desired({ deleted: true }), settings({ onGroupDelete: 'keep' }));
    expect(describeOps(writesOf(run))).toEqual([`delete acl ${before.aclRecord}`]);
    expect(civi.tables.Group).toEqual(groupsBefore);
    expect(ids(civi)).toEqual({ ...before, aclRecord: undefined });
    expectStable(civi, desired({ deleted: true }), settings({ onGroupDelete: 'keep' }));
  });

  it.each(modes)('with ON_GROUP_DELETE=%s removes every ACL of our role, duplicates too', (onGroupDelete) => {
    const { civi } = converged();
    const { id: _, ...fields } = civi.tables.Acl[0]!;
    civi.insert('Acl', fields);
    civi.insert('Acl', { ...fields, object_table: 'civicrm_saved_search' });
    sync(civi, desired({ deleted: true }), settings({ onGroupDelete }));
    expect(civi.tables.Acl).toEqual([]);
  });

  it.each(modes)('with ON_GROUP_DELETE=%s does not read the title holders nor touch other groups', (onGroupDelete) => {
    const { civi } = converged();
    const others = structuredClone(civi.tables.Group.filter((g) => g.source === undefined));
    const run = sync(civi, desired({ deleted: true }), settings({ onGroupDelete }));
    expect(run.rounds.flat().some((op) => op.target === 'titleHolders')).toBe(false);
    expect(civi.tables.Group.filter((g) => g.source === undefined)).toEqual(others);
  });

  it.each(modes)('that never existed in CiviCRM plans no writes (ON_GROUP_DELETE=%s)', (onGroupDelete) => {
    const civi = new FakeCivi();
    const snapshot = structuredClone(civi.tables);
    const run = sync(civi, desired({ deleted: true }), settings({ onGroupDelete }));
    expect(run.rounds.map(describeOps)).toEqual([['read groups', 'read roles']]);
    expect(civi.writes).toEqual([]);
    expect(civi.tables).toEqual(snapshot);
  });

  it.each(modes)('with the hint reads the ACLs in the first round (ON_GROUP_DELETE=%s)', (onGroupDelete) => {
    const { civi, run: first } = converged();
    const run = sync(civi, desired({ deleted: true }), settings({ onGroupDelete }), first.hint);
    expect(run.rounds).toHaveLength(2);
    expect(run.rounds[0]!.every((op) => op.kind === 'read')).toBe(true);
    expect(run.rounds[0]!.map((op) => op.target)).toContain('acls');
    expect(civi.tables.Acl).toEqual([]);
  });

  it('with only the groups left (no role) disables them', () => {
    const civi = new FakeCivi();
    const member = civi.insert('Group', { title: TITLE, name: 'a', source: MEMBER_SOURCE, group_type: [2] });
    sync(civi, desired({ deleted: true }), settings({ onGroupDelete: 'disable' }));
    expect(civi.group(member.id)!.is_active).toBe('0');
  });

  it('with only the groups left (no role) deletes them', () => {
    const civi = new FakeCivi();
    const member = civi.insert('Group', { title: TITLE, name: 'a', source: MEMBER_SOURCE, group_type: [2] });
    const aclGroup = civi.insert('Group', { title: ADMIN, name: 'b', source: ACL_SOURCE, group_type: [1] });
    const stale = civi.insert('AclRole', { acl_role_id: 9, entity_table: 'civicrm_group', entity_id: aclGroup.id });
    sync(civi, desired({ deleted: true }), settings({ onGroupDelete: 'delete' }));
    expect(civi.group(member.id)).toBeUndefined();
    expect(civi.group(aclGroup.id)).toBeUndefined();
    expect(civi.tables.AclRole).not.toContainEqual(stale);
  });

  it('comes back active with its ACL when the OG is re-created after a disable', () => {
    const { civi, ids: before } = converged();
    sync(civi, desired({ deleted: true }), settings({ onGroupDelete: 'disable' }));
    sync(civi, desired());
    expectContractRecords(civi);
    expect({ ...ids(civi), aclRecord: undefined }).toEqual({ ...before, aclRecord: undefined });
  });

  it('comes back whole when the OG is re-created after a delete', () => {
    const { civi } = converged();
    sync(civi, desired({ deleted: true }), settings({ onGroupDelete: 'delete' }));
    sync(civi, desired());
    expectContractRecords(civi);
  });
});

describe('the hint', () => {
  it('makes the keyed reads happen in the first round', () => {
    const ops = planGroup(desired(), {}, settings(), { roleValue: 3, aclGroupId: 101 });
    expect(ops.every((op) => op.kind === 'read')).toBe(true);
    expect(ops.slice(3)).toEqual([
      { kind: 'read', target: 'roleEntityRoles', entity: 'AclRole', params: { id: { '>': 0 }, acl_role_id: 3, options: { limit: 0 } }, key: 3 },
      {
        kind: 'read',
        target: 'acls',
        entity: 'Acl',
        params: { entity_table: 'civicrm_acl_role', entity_id: 3, options: { limit: 0 } },
        key: 3,
      },
      {
        kind: 'read',
        target: 'groupEntityRoles',
        entity: 'AclRole',
        params: { entity_table: 'civicrm_group', entity_id: 101, options: { limit: 0 } },
        key: 101,
      },
    ]);
  });

  it('with only the role value reads only the role rows', () => {
    const ops = planGroup(desired(), {}, settings(), { roleValue: 3 });
    expect(ops.map((op) => op.target)).toEqual(['groups', 'roles', 'titleHolders', 'roleEntityRoles', 'acls']);
  });

  it('with only the ACL group id reads only its entity roles', () => {
    const ops = planGroup(desired({ deleted: true }), {}, settings(), { aclGroupId: 101 });
    expect(ops.map((op) => op.target)).toEqual(['groups', 'roles', 'groupEntityRoles']);
  });

  it('is not needed once the observation has the ids: keys are read again when they differ', () => {
    const observed: Observation = {
      groups: [{ id: 200, title: ADMIN, source: ACL_SOURCE, isActive: true, groupType: [1] }],
      roles: [{ id: 5, value: 8, label: ADMIN, isActive: true }],
      titleHolders: { titles: [TITLE, ADMIN], rows: [] },
      roleEntityRoles: { key: 3, rows: [] },
      acls: { key: 3, rows: [] },
      groupEntityRoles: { key: 101, rows: [] },
    };
    const reads = planGroup(desired(), observed, settings(), { roleValue: 3, aclGroupId: 101 }).filter((op) => op.kind === 'read');
    expect(reads.map((op) => [op.target, op.kind === 'read' ? op.key : undefined])).toEqual([
      ['roleEntityRoles', 8],
      ['acls', 8],
      ['groupEntityRoles', 200],
    ]);
  });

  it('plans no ACL chain writes from rows read for another key', () => {
    const observed: Observation = {
      groups: [
        { id: 100, title: TITLE, source: MEMBER_SOURCE, isActive: true, groupType: [2] },
        { id: 200, title: ADMIN, source: ACL_SOURCE, isActive: true, groupType: [1] },
      ],
      roles: [{ id: 5, value: 8, label: ADMIN, isActive: true }],
      titleHolders: { titles: [TITLE, ADMIN], rows: [] },
      roleEntityRoles: { key: 3, rows: [{ id: 1, aclRoleId: 3, entityTable: 'civicrm_group', entityId: 9, isActive: true }] },
      acls: { key: 3, rows: [] },
      groupEntityRoles: { key: 101, rows: [] },
    };
    const ops = planGroup(desired({ description: undefined }), observed, settings());
    expect(ops.filter((op) => op.kind === 'write')).toEqual([]);
  });
});
