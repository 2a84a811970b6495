// Reconcile against CiviCRM's real state: read what is there, compare with the ledger,
// repair the difference. OG is the source of truth for synced groups.
import { randomUUID } from 'node:crypto';
import type { Lease, SyncStore } from '../ledger/store.js';
import { HeldLease } from './lease.js';
import type { AuditReport, Reconciler } from './reconciler.js';

export interface ReconcileReport {
  ogId: number;
  dryRun: boolean;
  memberGroupId: number | null;
  aclGroupId: number | null;
  /** Group, role and ACL changes made (dry run: the first that would be made). */
  groupChanges: string[];
  /** Members without their row in a group (or with a wrong status), fixed by the worker. */
  missing: Array<{ uid: number; contactId: number; group: 'member' | 'acl'; wanted: string }>;
  wrongStatus: Array<{ uid: number; contactId: number; group: 'member' | 'acl'; actual: string; wanted: string }>;
  /** Contacts in a synced group whom OG does not have there: set Removed. */
  extra: Array<{ contactId: number; group: 'member' | 'acl'; actual: string }>;
  /** Ledger members with no CiviCRM contact yet (the worker makes or finds them). */
  withoutContact: number[];
}

// Renewed while the audit runs; a process that dies mid-audit frees the group after this.
const LEASE_MS = 30_000;
const LEASE_WAIT_MS = 15_000;

/** Audits one group; false when the group is unknown, 'busy' when the worker holds it. */
export async function reconcileGroup(
  store: SyncStore,
  reconciler: Reconciler,
  ogId: number,
  dryRun: boolean,
): Promise<ReconcileReport | undefined | 'busy'> {
  const group = await store.group(ogId);
  if (!group) return undefined;
  const taken = await waitForLease(store, ogId, `reconcile-${randomUUID()}`);
  if (!taken) return 'busy';
  const { lease, askedAt } = taken;
  const held = new HeldLease(lease, store, LEASE_MS, { askedAt });
  const stopRenewing = held.keepAlive();
  try {
    const members = await store.members(ogId);
    const users = await store.users(members.map((m) => m.uid));
    const report = await reconciler.fenced(held).audit(group, group.civi, members, users, dryRun);
    const withContact = new Set(report.observed.map((o) => o.uid));
    if (!dryRun) {
      // A member the lookup finds no contact for (its email changed, or another user's link now
      // holds the contact cached) has no rows the audit could count as theirs: the cached contact
      // goes, so that the worker looks the user up again, and with it the rows known for it in
      // every group. The contacts first: what the store forgets with a contact left behind, the
      // rows found here then replace in this group, with the mark that has the worker write
      // exactly what differs.
      const lost = members.filter((m) => !withContact.has(m.uid));
      await store.saveContacts([
        ...report.observed.map((o) => ({ uid: o.uid, contactId: o.contactId, linked: o.linked })),
        ...lost.filter((m) => users.get(m.uid)?.contactId !== undefined).map((m) => ({ uid: m.uid, contactId: null })),
      ]);
      await store.setKnownStatuses(lease, [...report.observed, ...lost.map((m) => ({ uid: m.uid }))], { markForSync: true });
    }
    return toReport(report, dryRun, members.map((m) => m.uid).filter((uid) => !withContact.has(uid)));
  } finally {
    stopRenewing();
    await store.releaseGroup(lease);
  }
}

/**
 * A worker holds a group for one batch at a time: wait a little for it to let go. With the lease,
 * when the request that took it was sent (on the monotonic clock HeldLease counts by).
 */
async function waitForLease(store: SyncStore, ogId: number, owner: string): Promise<{ lease: Lease; askedAt: number } | undefined> {
  const giveUpAt = Date.now() + LEASE_WAIT_MS;
  for (;;) {
    const askedAt = performance.now();
    const lease = await store.leaseGroup(ogId, owner, LEASE_MS);
    if (lease) return { lease, askedAt };
    if (Date.now() > giveUpAt) return undefined;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function toReport(report: AuditReport, dryRun: boolean, withoutContact: number[]): ReconcileReport {
  const { drift, state } = report;
  return {
    ogId: report.ogId,
    dryRun,
    memberGroupId: state.memberGroupId ?? null,
    aclGroupId: state.aclGroupId ?? null,
    groupChanges: report.groupWrites,
    missing: drift.wrong
      .filter((w) => w.actual === undefined)
      .map((w) => ({ uid: w.uid, contactId: w.contactId, group: w.side, wanted: w.wanted })),
    wrongStatus: drift.wrong
      .filter((w) => w.actual !== undefined)
      .map((w) => ({ uid: w.uid, contactId: w.contactId, group: w.side, actual: w.actual!, wanted: w.wanted })),
    extra: drift.extra.map((e) => ({ contactId: e.contactId, group: e.side, actual: e.actual })),
    withoutContact,
  };
}
