// The reconcile loop: lanes that lease one OG group at a time from the store, sync it,
// and record the outcome. Many groups run in parallel; one group never runs twice at once.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { CiviError, isGoneGroup } from '../civicrm/errors.js';
import { StoreAvailability } from '../ledger/availability.js';
import { LeaseLost, type Claimed, type Failure, type GroupRecord, type GroupWork, type Lease, type SyncStore } from '../ledger/store.js';
import { HeldLease } from './lease.js';
import { StoreClock } from './store-clock.js';
import type { GroupCiviState, MemberOutcome, MemberSync, Reconciler } from './reconciler.js';

export interface WorkerOptions {
  store: SyncStore;
  reconciler: Reconciler;
  concurrency: number;
  logger?: Logger;
  /** Told whether the store answers; one shared with the HTTP side logs an outage once. */
  availability?: StoreAvailability;
  /**
   * How long a lease lasts unless renewed; the group of a process that died is taken up
   * by another after this. Lanes renew their lease while they work.
   */
  leaseMs?: number;
  /** How often an idle lane looks for work that other replicas or backoffs made due. */
  pollMs?: number;
  /** Members synced per lease. */
  memberBatch?: number;
  /**
   * How long a group rests after a sync that left none of its members due, before the worker
   * takes it again: the changes that come meanwhile go to CiviCRM together, in one request,
   * rather than one request each. A group with more due than one batch goes on at once. The
   * first change to a group that has rested goes to CiviCRM within the few milliseconds of a
   * wake (see wake); the changes of a burst (a bulk operation in Drupal) wait at most this long.
   * Default one second: a sync costs CiviCRM a request and the service a few store transactions
   * whatever it carries.
   */
  restMs?: number;
  /**
   * The clock retries are dated and found due by; by default the store's, as this process
   * follows it (see StoreClock), so that replicas whose clocks differ keep each other's backoff.
   * Whether a lease holds is decided by the store itself.
   */
  now?: () => number;
  backoff?: BackoffPolicy;
  /** Told what became of each group and membership synced, for progress reports. */
  onOutcome?: (outcome: SyncOutcome) => void;
}

/**
 * `created`: a membership reached CiviCRM for the first time; `updated`: a status changed;
 * `unchanged`: CiviCRM already matched; `retry` and `dead`: it failed, for now or for good.
 */
export type SyncOutcome =
  | { kind: 'group'; ogId: number; result: 'synced' | 'retry' | 'dead'; error?: string }
  | { kind: 'member'; ogId: number; uid: number; result: 'created' | 'updated' | 'unchanged' | 'retry' | 'dead'; error?: string };

export interface BackoffPolicy {
  baseMs: number;
  maxMs: number;
  /** Attempts after which an item that CiviCRM keeps refusing is dead. */
  maxAttempts: number;
}

/** How long the wakes that follow one another are gathered into one (see Worker.wake). */
const WAKE_COALESCE_MS = 20;

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 1_000, maxMs: 5 * 60_000, maxAttempts: 8 };

/**
 * When to try again after a failure, or never. CiviCRM unreachable (transport) or refusing
 * our credentials (auth) is an outage, not the item's fault: it is retried for as long as
 * it lasts. An API error is the item's own: at once dead unless CiviCRM called it transient,
 * and dead after `maxAttempts` even then. Other errors are retried up to `maxAttempts` too.
 */
export function failureFor(error: unknown, attemptsSoFar: number, policy: BackoffPolicy, now: number, random = Math.random): Failure {
  const message = error instanceof Error ? error.message : String(error);
  const outage = error instanceof CiviError && (error.kind === 'transport' || error.kind === 'auth');
  // Anything unexpected (a store hiccup, say) is given the same limited retries as a transient API error.
  const transient = error instanceof CiviError ? error.kind === 'api' && error.retryable : true;
  const attempts = attemptsSoFar + 1;
  if (!outage && !(transient && attempts < policy.maxAttempts)) return { error: message };
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(attempts - 1, 30));
  // Full jitter on the upper half keeps replicas and groups from retrying in lockstep.
  return { error: message, retryAt: now + Math.round(ceiling * (0.5 + random() * 0.5)) };
}

export class Worker {
  private readonly owner = `worker-${randomUUID()}`;
  private readonly leaseMs: number;
  private readonly pollMs: number;
  private readonly memberBatch: number;
  private readonly restMs: number;
  private readonly backoff: BackoffPolicy;
  private readonly availability: StoreAvailability;
  private readonly now: () => number;
  /** Followed before each claim, unless the clock was given. */
  private readonly storeClock: StoreClock | undefined;
  private running = false;
  private lanes: Promise<void>[] = [];
  private readonly sleepers = new Set<() => void>();
  /** The one timer that wakes a lane, and when it fires (see wakeIn). */
  private waking: { timer: NodeJS.Timeout; at: number } | undefined;

  constructor(private readonly options: WorkerOptions) {
    this.leaseMs = options.leaseMs ?? 15_000;
    this.pollMs = options.pollMs ?? 1_000;
    this.memberBatch = options.memberBatch ?? 1_000;
    this.restMs = options.restMs ?? 1_000;
    this.backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.availability = options.availability ?? new StoreAvailability(options.logger);
    if (options.now) this.now = options.now;
    else {
      this.storeClock = new StoreClock(options.store);
      this.now = this.storeClock.now;
    }
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.lanes = Array.from({ length: this.options.concurrency }, () => this.lane());
  }

  /** Lets lanes finish the group in hand, then resolves. */
  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.waking?.timer);
    this.waking = undefined;
    for (const done of [...this.sleepers]) done();
    await Promise.all(this.lanes);
    this.lanes = [];
  }

  /**
   * New work arrived: an idle lane looks now instead of at its next poll. A lane that claims a
   * group while another is due too wakes the next, so a burst fans out over the lanes, and one
   * event wakes one lane, not all.
   *
   * Each wake costs a lane a look at the store: the wakes of the next few milliseconds (a steady
   * stream of accepts) are answered by one look. A change reaches CiviCRM that much later, and
   * the store is not asked once per event.
   */
  wake(): void {
    this.wakeIn(WAKE_COALESCE_MS);
  }

  /**
   * Wakes one lane in `ms`, unless one wakes sooner. The end of a group's rest comes here too, and
   * the lanes told that every group with work rests sleep like idle ones: were each to sleep until
   * the rest ends, every lane would ask the store at that moment and all but one find nothing.
   * A later wake given up for a sooner one is not lost: the lane woken learns it from the store
   * again. A poll comes sooner anyway.
   */
  private wakeIn(ms: number): void {
    if (!this.running) return;
    const wait = Math.min(ms, this.pollMs);
    const at = Date.now() + wait;
    if (this.waking && this.waking.at <= at) return;
    clearTimeout(this.waking?.timer);
    const timer = setTimeout(() => {
      this.waking = undefined;
      this.wakeOne();
    }, wait);
    this.waking = { timer, at };
  }

  private wakeOne(): void {
    const [first] = this.sleepers;
    first?.();
  }

  private async lane(): Promise<void> {
    const { store, logger } = this.options;
    while (this.running) {
      let claimed: Claimed;
      let askedAt = 0;
      try {
        await this.storeClock?.follow();
        askedAt = performance.now();
        claimed = await store.claimWork(this.owner, this.now(), this.leaseMs, this.memberBatch);
        this.availability.succeeded();
      } catch (error) {
        this.availability.failed(error);
      }
      if (claimed === undefined) {
        await this.sleep();
        continue;
      }
      if ('restingMs' in claimed) {
        this.wakeIn(claimed.restingMs);
        await this.sleep();
        continue;
      }
      // Another group with work goes to a sleeping lane: now when it is due, else when its rest
      // ends (the other lanes may never have asked, and the timer that woke this lane is spent).
      if (claimed.nextDueMs === 0) this.wakeOne();
      else if (claimed.nextDueMs !== undefined) this.wakeIn(claimed.nextDueMs);
      const { lease, work } = claimed;
      const held = new HeldLease(lease, store, this.leaseMs, { askedAt });
      const stopRenewing = held.keepAlive();
      let released = false;
      try {
        released = await this.process(held, work);
      } catch (error) {
        if (error instanceof LeaseLost) logger?.warn({ ogId: lease.ogId }, 'lease of OG group lost; leaving the group to whoever holds it now');
        else logger?.error({ err: error, ogId: lease.ogId }, 'sync of OG group failed unexpectedly');
      } finally {
        stopRenewing();
        if (!released) await store.releaseGroup(lease).catch(() => undefined);
      }
    }
  }

  /** Waits for the next poll, or less when woken; not at all once stopped. */
  private sleep(): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.sleepers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, this.pollMs);
      this.sleepers.add(done);
    });
  }

  /** Syncs one claimed batch; true when its results were recorded with the lease's release. */
  private async process(held: HeldLease, work: GroupWork): Promise<boolean> {
    const { logger } = this.options;
    const { ogId } = held.lease;
    const reconciler = this.options.reconciler.fenced(held);
    const state = await this.syncGroupIfNeeded(held.lease, reconciler, work);
    if (!state || work.members.length === 0) return false;
    // A group synced just now was looked at; one taken as known is looked at with the members' writes.
    const { outcomes, groupDiffers } = await this.syncMembers(reconciler, work, state, { lookAtGroup: knownAsIs(work.group) });
    const gone = outcomes.some((o) => !o.ok && isGoneGroup(o.error));
    if (gone || groupDiffers) {
      // The cached ids name a group deleted in CiviCRM: observe again, which makes it anew and
      // puts every member back to be written. These writes were not the members' fault. A role,
      // entity role or ACL deleted by hand is made again the same way.
      if (gone) logger?.warn({ ogId, memberGroupId: state.memberGroupId, aclGroupId: state.aclGroupId }, 'OG group gone from CiviCRM; making it again');
      else logger?.warn({ ogId }, 'OG group, role or ACL changed in CiviCRM; making them match again');
      // Undefined: made anew (or failing as a whole, with its own backoff); the same ids again
      // would mean the refusal was something else, and the members' failures stand.
      if ((await this.syncGroupIfNeeded(held.lease, reconciler, work, { observe: true })) === undefined) return false;
    }
    await this.record(held.lease, work, outcomes);
    return true;
  }

  /** Syncs the group when it is dirty (or, with `observe`, anyway); its CiviCRM state when members may go on. */
  private async syncGroupIfNeeded(
    lease: Lease,
    reconciler: Reconciler,
    work: GroupWork,
    { observe = false } = {},
  ): Promise<GroupCiviState | undefined> {
    const { store, logger } = this.options;
    const { group } = work;
    const previous = group.civi;
    if (knownAsIs(group) && !observe) return previous;
    try {
      const { state, adopted } = await reconciler.syncGroup(group, previous);
      if (adopted) await this.learnAdoptedRows(lease, reconciler, group, state);
      const madeAnew = previous !== undefined && (previous.memberGroupId !== state.memberGroupId || previous.aclGroupId !== state.aclGroupId);
      await store.groupSynced(lease, group.dirtySeq, state, this.now(), { madeAnew });
      this.options.onOutcome?.({ kind: 'group', ogId: group.ogId, result: 'synced' });
      // Members made dirty again are written into the new group by the next round.
      if (adopted || madeAnew) return undefined;
      logger?.debug({ ogId: group.ogId, state }, 'OG group synced');
      return state;
    } catch (error) {
      if (error instanceof LeaseLost) throw error;
      const failure = { ...failureFor(error, group.attempts, this.backoff, this.now()), dirtySeq: group.dirtySeq };
      logger?.warn({ ogId: group.ogId, error: failure.error, retryAt: failure.retryAt }, 'OG group sync failed');
      await store.groupFailed(lease, failure);
      this.options.onOutcome?.({ kind: 'group', ogId: group.ogId, result: failure.retryAt ? 'retry' : 'dead', error: failure.error });
      return undefined;
    }
  }

  /**
   * Groups made by an older module hold rows the service never wrote (an admin demoted since
   * is still in the ACL group). Their real statuses become the known ones, so the members'
   * sync writes exactly what differs. Contacts OG does not list are left to `reconcile`: until
   * a snapshot or backfill, the ledger may not know every member.
   */
  private async learnAdoptedRows(lease: Lease, reconciler: Reconciler, group: GroupRecord, state: GroupCiviState): Promise<void> {
    const { store } = this.options;
    const members = await store.members(group.ogId);
    const users = await store.users(members.map((m) => m.uid));
    const { observed } = await reconciler.observeMembers(group, state, members, users);
    await store.saveContacts(observed.map((o) => ({ uid: o.uid, contactId: o.contactId, linked: o.linked })));
    await store.setKnownStatuses(lease, observed);
  }

  private async syncMembers(reconciler: Reconciler, work: GroupWork, state: GroupCiviState, options: { lookAtGroup: boolean }): Promise<MemberSync> {
    try {
      return await reconciler.syncMembers(work.group, state, work.members, work.users, options);
    } catch (error) {
      if (error instanceof LeaseLost) throw error;
      // The request as a whole failed: every member in it shares the failure.
      const failure = error instanceof Error ? error : new Error(String(error));
      return { outcomes: work.members.map((m) => ({ uid: m.uid, ok: false as const, error: failure })), groupDiffers: false };
    }
  }

  /** Records the batch's outcomes and lets the lease go, in one transaction; then reports them. */
  private async record(lease: Lease, work: GroupWork, outcomes: MemberOutcome[]): Promise<void> {
    const { store, logger } = this.options;
    const { ogId } = lease;
    const byUid = new Map(work.members.map((m) => [m.uid, m]));
    const synced = outcomes.flatMap((o) =>
      o.ok ? [{ uid: o.uid, dirtySeq: byUid.get(o.uid)!.dirtySeq, civiMemberStatus: o.member, civiAclStatus: o.acl }] : [],
    );
    const failed = outcomes.flatMap((o) => {
      if (o.ok) return [];
      const member = byUid.get(o.uid)!;
      const failure = {
        ...(typeof o.error === 'string' ? { error: o.error } : failureFor(o.error, member.attempts, this.backoff, this.now())),
        dirtySeq: member.dirtySeq,
      };
      return [{ uid: o.uid, failure }];
    });
    // A full batch means more are due: no rest for the group then.
    await store.finishMembers(lease, synced, failed, work.members.length < this.memberBatch ? this.restMs : 0);

    const report = this.options.onOutcome;
    for (const { uid, failure } of failed) {
      if (failure.retryAt === undefined) logger?.warn({ ogId, uid, error: failure.error }, 'membership is dead');
      report?.({ kind: 'member', ogId, uid, result: failure.retryAt ? 'retry' : 'dead', error: failure.error });
    }
    if (!report) return;
    for (const outcome of outcomes) {
      if (!outcome.ok) continue;
      const member = byUid.get(outcome.uid)!;
      const wrote = outcome.member !== undefined || outcome.acl !== undefined;
      const first = member.civiMemberStatus === undefined && member.civiAclStatus === undefined;
      report({ kind: 'member', ogId, uid: outcome.uid, result: !wrote ? 'unchanged' : first ? 'created' : 'updated' });
    }
  }
}

/** A clean group whose CiviCRM state is known: its members are synced without syncing it first. */
function knownAsIs(group: GroupRecord): boolean {
  return group.syncState === 'clean' && group.civi !== undefined;
}
