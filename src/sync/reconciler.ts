// Runs plans against CiviCRM: the group loop (plan a round, send it as one request,
// fold the answers, repeat) and the batched membership writes.
import type { Logger } from 'pino';
import type { ApiCall, ApiResult } from '../civicrm/client.js';
import { CiviError } from '../civicrm/errors.js';
import type { OnGroupDelete } from '../config.js';
import type { ContactLink, GroupCiviState, GroupRecord, MemberRecord, UserRecord } from '../ledger/store.js';
import { chunks, resolveContacts, type ContactResult } from './contacts.js';
import {
  membershipDrift,
  statusWrites,
  type ActualRows,
  type AuditedMember,
  type GroupContactStatus,
  type MembershipDrift,
  wantOf,
} from './memberships.js';
import { groupContactCall, writeCall, writeResult, type ContactOfMember, type GroupContactWrite, type WriteMode } from './group-contacts.js';
import { fencedClient, type CiviApi, type HeldLease } from './lease.js';
import { fold } from './observe.js';
import { planGroup, resolve, type Observation, type Operation } from './plan.js';
import { objectTableFor, type ObjectTable } from './records.js';

export type { GroupCiviState } from '../ledger/store.js';

export interface GroupSync {
  state: GroupCiviState;
  /** The groups were already in CiviCRM (made by an older module) when first synced. */
  adopted: boolean;
}

export interface AuditReport {
  ogId: number;
  state: GroupCiviState;
  /** Group, role and ACL writes made (or, in a dry run, the first ones that would be). */
  groupWrites: string[];
  drift: MembershipDrift;
  /** The statuses really found for each ledger member whose contact is known. */
  observed: Array<{ uid: number; contactId: number; linked: boolean; member?: GroupContactStatus; acl?: GroupContactStatus }>;
}

/** The members' outcomes, and whether the group itself was found to differ from the ledger's. */
export interface MemberSync {
  outcomes: MemberOutcome[];
  /**
   * A group, role, entity role or ACL was found missing or changed (deleted by hand in CiviCRM,
   * say) by the look that rode with the members' writes: the group wants a sync of its own.
   */
  groupDiffers: boolean;
}

/** Reads that tell whether a known group is as the ledger wants it, and what their answers say. */
interface GroupCheck {
  calls: ApiCall[];
  /** True only when the answers show a difference; a read that failed says nothing. */
  differs(answers: Array<ApiResult<Record<string, unknown>> | CiviError>): boolean;
}

export type MemberOutcome =
  | { uid: number; ok: true; member?: GroupContactStatus; acl?: GroupContactStatus }
  /** A string is a reason the membership cannot succeed as it is; an Error may pass. */
  | { uid: number; ok: false; error: Error | string };

export interface ReconcilerOptions {
  civi: CiviApi;
  /** CiviCRM's version (cached by the client); it decides the ACL object_table. */
  version?: () => Promise<string>;
  onGroupDelete: OnGroupDelete;
  createMissingContacts: boolean;
  logger?: Logger;
  /** Contacts resolved along the way, for the store's cache. */
  onContacts?: (links: ContactLink[]) => Promise<void>;
}

/**
 * CiviCRM caches who may see what, and its API writes of ACLs, entity roles and (in the
 * `deterministic` refresh mode) ACL-group memberships leave that cache alone: admins would
 * keep their old access until some later rebuild. This call resets it (CiviCRM 5.37+).
 */
const ACL_CACHE_FLUSH: ApiCall = ['Job', 'acl_cache_flush', {}];
/** Group writes that change who may edit the member group's contacts. */
const ACCESS_TARGETS = new Set(['acl', 'entityRole', 'role']);

/** Rounds after which a plan that keeps finding work is taken to be fighting something. */
const MAX_ROUNDS = 8;
/** Contacts per GroupContact.create call, and calls per request. */
const CONTACTS_PER_CALL = 200;
const CALLS_PER_REQUEST = 50;

export class Reconciler {
  constructor(
    private readonly options: ReconcilerOptions,
    /** `aclFlushWorks`: false once CiviCRM said it has no Job.acl_cache_flush, or refused it. */
    private readonly shared = { aclFlushWorks: true },
  ) {}

  /** This reconciler, calling CiviCRM only while `held` is held. */
  fenced(held: HeldLease): Reconciler {
    return new Reconciler({ ...this.options, civi: fencedClient(this.options.civi, held) }, this.shared);
  }

  /**
   * Makes CiviCRM's groups, role and ACL match the ledger's group; returns what is there now.
   * `onWrite` hears of every write; with `dryRun` the first writes are reported, not made.
   */
  async syncGroup(
    group: GroupRecord,
    previous?: GroupCiviState,
    options: { dryRun?: boolean; onWrite?: (description: string) => void } = {},
  ): Promise<GroupSync> {
    const { desired, settings, hint } = await this.groupPlanInputs(group, previous);
    let observed: Observation = {};
    let adopted = false;
    const done = () => ({ state: summarize(group.ogId, observed, settings.objectTable), adopted });
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const planned = planGroup(desired, observed, settings, hint);
      const writes = planned.filter((op): op is Operation & { kind: 'write' } => op.kind === 'write');
      for (const op of writes) options.onWrite?.(describeWrite(op));
      // A dry run stops at the first writes: what comes after depends on their answers.
      const ops = options.dryRun && writes.length > 0 ? planned.filter((op) => op.kind === 'read') : planned;
      if (ops.length === 0) return done();
      const flushAcl = ops.some((op) => op.kind === 'write' && ACCESS_TARGETS.has(op.target));
      const calls = ops.map((op): ApiCall => [op.entity, op.kind === 'read' ? 'get' : op.action, op.params]);
      const answers = await this.run(calls, flushAcl);
      answers.forEach((answer, i) => {
        if (answer instanceof CiviError) throw answer;
        observed = fold(observed, ops[i]!, answer.values);
      });
      if (round === 0) adopted = previous === undefined && resolve(group.ogId, observed).memberGroup !== undefined;
      if (options.dryRun && writes.length > 0) return done();
    }
    throw new Error(`OG group ${group.ogId}: CiviCRM still differs after ${MAX_ROUNDS} rounds of changes`);
  }

  private async groupPlanInputs(group: GroupRecord, previous: GroupCiviState | undefined) {
    const { civi, onGroupDelete } = this.options;
    const objectTable = objectTableFor(await (this.options.version ?? (() => civi.version()))());
    return {
      desired: { ogId: group.ogId, title: group.title, description: group.description, deleted: group.deleted },
      settings: { onGroupDelete, objectTable },
      hint: { roleValue: previous?.roleValue, aclGroupId: previous?.aclGroupId },
    };
  }

  /**
   * The first round of syncGroup for a group known as `state`: its reads only, to ride in a
   * request the members' sync sends anyway (with the api3 multi-call; elsewhere each read is a
   * request of its own), so that what was deleted or changed by hand in CiviCRM is seen on the
   * group's next sync.
   */
  private async groupCheck(group: GroupRecord, state: GroupCiviState): Promise<GroupCheck> {
    const { desired, settings, hint } = await this.groupPlanInputs(group, state);
    // With nothing observed, a plan is reads only.
    const reads = planGroup(desired, {}, settings, hint);
    return {
      calls: reads.map((op): ApiCall => [op.entity, 'get', op.params]),
      differs(answers) {
        let observed: Observation = {};
        for (const [i, answer] of answers.entries()) {
          if (answer instanceof CiviError) return false;
          observed = fold(observed, reads[i]!, answer.values);
        }
        return planGroup(desired, observed, settings, hint).length > 0;
      },
    };
  }

  /**
   * Looks at a group alone, when the members' sync sends nothing the look could ride with. A look
   * that fails (CiviCRM out of reach) says nothing, and the members it was for owe no writes.
   */
  private async lookAt(group: GroupRecord, state: GroupCiviState): Promise<boolean> {
    try {
      const check = await this.groupCheck(group, state);
      return check.differs(await this.run(check.calls));
    } catch (error) {
      if (error instanceof CiviError) return false;
      throw error;
    }
  }

  /**
   * Compares the group's real GroupContact rows (every page, every status) with the ledger.
   * Unless `dryRun`, repairs the group and ACL chain and removes contacts OG does not have
   * in the groups; members' own rows are left to the worker, which is told the real statuses.
   */
  async audit(
    group: GroupRecord,
    previous: GroupCiviState | undefined,
    members: MemberRecord[],
    users: Map<number, UserRecord>,
    dryRun: boolean,
  ): Promise<AuditReport> {
    const groupWrites: string[] = [];
    const { state } = await this.syncGroup(group, previous, { dryRun, onWrite: (w) => groupWrites.push(w) });
    const { actual, audited, observed } = await this.observeMembers(group, state, members, users);
    const drift = membershipDrift(audited, actual);
    if (!dryRun && drift.extra.length > 0) {
      const calls = drift.extra.map((e): ApiCall =>
        groupContactCall(e.side === 'member' ? state.memberGroupId! : state.aclGroupId!, [e.contactId], 'Removed'),
      );
      const flushAcl = drift.extra.some((e) => e.side === 'acl');
      for (const answer of await this.run(calls, flushAcl)) if (answer instanceof CiviError) throw answer;
    }
    return { ogId: group.ogId, state, groupWrites, drift, observed };
  }

  /**
   * The GroupContact rows really in the two groups, and the statuses they give each ledger
   * member whose contact can be found (none is created).
   */
  async observeMembers(group: GroupRecord, state: GroupCiviState, members: MemberRecord[], users: Map<number, UserRecord>) {
    const actual: ActualRows = {
      member: await this.rowsOf(state.memberGroupId),
      acl: await this.rowsOf(state.aclGroupId),
    };
    // Looked up afresh rather than taken from the cache: contacts merged in CiviCRM since move
    // their UFMatch to the contact kept, and a reconcile is where that is caught.
    const profiles = members.map((m): UserRecord => {
      const { contactId: _cached, contactLinked: _linked, ...user } = users.get(m.uid) ?? { id: m.uid };
      return user;
    });
    const contacts = await resolveContacts(this.options.civi, profiles, { createMissing: false });
    const audited: AuditedMember[] = members.map((m) => {
      const contact = contacts.get(m.uid);
      const want = wantOf(m, group.ownerUid);
      return { uid: m.uid, ...want, ...(contact && 'contactId' in contact && { contactId: contact.contactId }) };
    });
    const observed = audited.flatMap((m) => {
      const contact = contacts.get(m.uid);
      if (m.contactId === undefined || !contact || !('contactId' in contact)) return [];
      return [{ uid: m.uid, contactId: m.contactId, linked: contact.linked, member: actual.member.get(m.contactId), acl: actual.acl.get(m.contactId) }];
    });
    return { actual, audited, observed };
  }

  /** Every GroupContact row of a group, whatever its status. */
  private async rowsOf(groupId: number | undefined): Promise<Map<number, GroupContactStatus>> {
    const rows = new Map<number, GroupContactStatus>();
    if (groupId === undefined) return rows;
    for (const wanted of ['Added', 'Pending', 'Removed'] as const) {
      const found = await this.options.civi.getAll('GroupContact', { group_id: groupId, status: wanted, return: ['contact_id', 'status'] });
      for (const row of found) rows.set(Number(row.contact_id), wanted);
    }
    return rows;
  }

  /**
   * Writes the GroupContact statuses the members need; one outcome per member. With
   * `lookAtGroup` (a group not synced just now), the group is looked at too (see groupCheck), in
   * the request of the writes, or alone when there are none.
   */
  async syncMembers(
    group: GroupRecord,
    state: GroupCiviState,
    members: MemberRecord[],
    users: Map<number, UserRecord>,
    { lookAtGroup = false } = {},
  ): Promise<MemberSync> {
    const outcomes = new Map<number, MemberOutcome>();
    const pending: Array<{ member: MemberRecord; writes: ReturnType<typeof statusWrites> }> = [];
    // A deleted or unsynced group has no rows to change; nothing is owed until it exists again.
    const groupGone = group.deleted || state.memberGroupId === undefined || state.aclGroupId === undefined;
    const look = lookAtGroup && !groupGone;
    for (const member of members) {
      const known = { member: status(member.civiMemberStatus), acl: status(member.civiAclStatus) };
      const writes = statusWrites(wantOf(member, group.ownerUid), known);
      if (groupGone || (writes.member === undefined && writes.acl === undefined)) {
        outcomes.set(member.uid, { uid: member.uid, ok: true });
      } else {
        pending.push({ member, writes });
      }
    }
    const settled = (groupDiffers: boolean): MemberSync => ({ outcomes: members.map((m) => outcomes.get(m.uid)!), groupDiffers });
    if (pending.length === 0) return settled(look && (await this.lookAt(group, state)));

    // Someone to be taken out who has no contact and none can be made has no row to change either.
    const removalOnly = new Set(
      pending.filter(({ writes }) => writes.member !== 'Added' && writes.member !== 'Pending' && writes.acl !== 'Added').map((p) => p.member.uid),
    );
    const contacts = await this.contactsOf(pending.map((p) => users.get(p.member.uid) ?? { id: p.member.uid }));
    const plan = new Map<string, GroupContactWrite>();
    for (const { member, writes } of pending) {
      const contact = contacts.get(member.uid);
      if (!contact || 'error' in contact) {
        outcomes.set(
          member.uid,
          removalOnly.has(member.uid)
            ? { uid: member.uid, ok: true }
            : { uid: member.uid, ok: false, error: contact?.error ?? `no contact for user ${member.uid}` },
        );
        continue;
      }
      outcomes.set(member.uid, { uid: member.uid, ok: true, ...writes });
      const mode: WriteMode = !contact.cached ? 'byId' : contact.linked ? 'throughUFMatch' : 'unlessTrashed';
      for (const side of ['member', 'acl'] as const) {
        const wanted = writes[side];
        if (!wanted) continue;
        const groupId = side === 'member' ? state.memberGroupId! : state.aclGroupId!;
        const key = `${groupId}:${wanted}:${mode}`;
        const entry = plan.get(key) ?? { groupId, status: wanted, mode, members: [] };
        entry.members.push({ uid: member.uid, contactId: contact.contactId });
        plan.set(key, entry);
      }
    }

    const batches = [...plan.values()].flatMap((w) => chunks(w.members, CONTACTS_PER_CALL).map((members) => ({ ...w, members })));
    if (batches.length === 0) return settled(look && (await this.lookAt(group, state)));
    const check = look ? await this.groupCheck(group, state) : undefined;
    const { failed, unwritten, moved, groupDiffers } = await this.runGroupContacts(batches, state.aclGroupId!, check);
    for (const [uid, error] of failed) outcomes.set(uid, { uid, ok: false, error });
    for (const uid of unwritten) {
      outcomes.set(uid, {
        uid,
        ok: false,
        error: new Error(`the CiviCRM contact cached for Drupal user ${uid} is in the trash or no longer linked to it; looking it up again`),
      });
    }
    const relinked = [...moved.map((m) => ({ ...m, linked: true })), ...unwritten.map((uid) => ({ uid, contactId: null }))];
    if (relinked.length > 0) await this.options.onContacts?.(relinked);
    return settled(groupDiffers);
  }

  private async contactsOf(users: UserRecord[]): Promise<Map<number, ContactResult>> {
    const { civi, createMissingContacts, logger, onContacts } = this.options;
    const results = await resolveContacts(civi, users, { createMissing: createMissingContacts, logger });
    const fresh = [...results].flatMap(([uid, r]) => ('contactId' in r && !r.cached ? [{ uid, contactId: r.contactId, linked: r.linked }] : []));
    if (fresh.length > 0) await onContacts?.(fresh);
    return results;
  }

  /**
   * Sends the GroupContact writes. A write for many contacts that CiviCRM refuses is retried one
   * contact at a time, so one poison membership fails alone. Returns the members whose write
   * failed, those whose cached contact was not written (trashed, or its link gone), and those
   * whose UFMatch led to another contact than the one cached.
   */
  private async runGroupContacts(writes: GroupContactWrite[], aclGroupId: number, check?: GroupCheck) {
    const failed = new Map<number, CiviError>();
    const unwritten: number[] = [];
    const moved: ContactOfMember[] = [];
    const checks = check?.calls ?? [];
    const answers = await this.run([...checks, ...writes.map(writeCall)], writes.some((w) => w.groupId === aclGroupId));
    const groupDiffers = check?.differs(answers.splice(0, checks.length)) ?? false;
    const retry: GroupContactWrite[] = [];
    answers.forEach((answer, i) => {
      const write = writes[i]!;
      if (!(answer instanceof CiviError)) {
        const result = writeResult(write, answer.values);
        const done = new Set(result.written);
        unwritten.push(...write.members.filter((m) => !done.has(m.uid)).map((m) => m.uid));
        moved.push(...result.moved);
      } else if (answer.retryable || write.members.length === 1) {
        for (const m of write.members) failed.set(m.uid, answer);
      } else {
        for (const m of write.members) retry.push({ ...write, members: [m] });
      }
    });
    if (retry.length > 0) {
      const again = await this.runGroupContacts(retry, aclGroupId);
      for (const [uid, error] of again.failed) failed.set(uid, error);
      unwritten.push(...again.unwritten);
      moved.push(...again.moved);
    }
    return { failed, unwritten: [...new Set(unwritten)], moved, groupDiffers };
  }

  /**
   * Sends calls in as few requests as possible: one call alone, more as api3 multi-calls.
   * With `flushAcl`, the ACL cache reset rides at the end of the last request.
   */
  private async run(calls: ApiCall[], flushAcl = false): Promise<Array<ApiResult<Record<string, unknown>> | CiviError>> {
    if (!flushAcl || !this.shared.aclFlushWorks) return this.send(calls);
    const answers = await this.send([...calls, ACL_CACHE_FLUSH]);
    this.settleAclFlush(answers.pop()!);
    return answers;
  }

  /**
   * A CiviCRM without the flush, or that refuses it, is told once in the log and not asked again;
   * the sync goes on. Any other failure (a lock wait timed out) is this flush's alone: the next
   * round that changes access flushes again.
   */
  private settleAclFlush(answer: ApiResult<Record<string, unknown>> | CiviError): void {
    if (!(answer instanceof CiviError)) return;
    const missing = answer.code === 'not-found' || /does not exist/i.test(answer.message);
    const refused = answer.code === 'unauthorized' || /permission check failed/i.test(answer.message);
    if (!missing && !refused) {
      this.options.logger?.warn({ error: answer.message }, "Job.acl_cache_flush failed; admins' access changes at the next flush or when CiviCRM rebuilds its ACL cache");
      return;
    }
    this.shared.aclFlushWorks = false;
    this.options.logger?.warn(
      { error: answer.message },
      missing
        ? "CiviCRM has no Job.acl_cache_flush (it came in 5.37): admins' access changes when CiviCRM next rebuilds its ACL cache"
        : "CiviCRM refused Job.acl_cache_flush (it needs the 'administer CiviCRM' permission): admins' access changes when CiviCRM next rebuilds its ACL cache",
    );
  }

  private async send(calls: ApiCall[]): Promise<Array<ApiResult<Record<string, unknown>> | CiviError>> {
    const { civi } = this.options;
    if (calls.length === 1) {
      const [entity, action, params] = calls[0]!;
      try {
        return [await civi.call(entity, action, params)];
      } catch (error) {
        // A transport failure concerns the whole request; an API error only this call.
        if (error instanceof CiviError && error.kind === 'api') return [error];
        throw error;
      }
    }
    const answers: Array<ApiResult<Record<string, unknown>> | CiviError> = [];
    for (const chunk of chunks(calls, CALLS_PER_REQUEST)) answers.push(...(await civi.batch(chunk)));
    return answers;
  }
}

function describeWrite(op: Operation & { kind: 'write' }): string {
  const { id, ...rest } = op.params;
  const what = !id ? op.action : op.action === 'delete' ? 'delete' : 'update';
  return `${what} ${op.entity}${!id ? '' : ` ${String(id)}`}${Object.keys(rest).length ? ` ${JSON.stringify(rest)}` : ''}`;
}

function status(value: string | undefined): GroupContactStatus | undefined {
  return value === 'Added' || value === 'Pending' || value === 'Removed' ? value : undefined;
}

function summarize(ogId: number, observed: Observation, objectTable: ObjectTable): GroupCiviState {
  const { memberGroup, aclGroup, role } = resolve(ogId, observed);
  return {
    ...(memberGroup && { memberGroupId: memberGroup.id, memberTitle: memberGroup.title }),
    ...(aclGroup && { aclGroupId: aclGroup.id, aclTitle: aclGroup.title }),
    ...(role && { roleId: role.id, roleValue: role.value }),
    active: Boolean(memberGroup?.isActive),
    objectTable,
  };
}
