// Generated og.group.snapshot data (backfill lines) and the CiviCRM state they ask for, read
// from the emulator's tables: shared by the backfill, reconcile and bench runs.
import type { CiviEmulator } from '../civicrm-emulator/index.js';
import { SECRET } from './app.js';
import { ogGroups } from './civicrm-view.js';

export type State = 'active' | 'pending' | 'blocked';

export interface SnapshotMember {
  user: { id: number; email: string; first_name?: string; last_name?: string };
  state: State;
  is_admin: boolean;
}

export interface SnapshotLine {
  group: { id: number; title: string; description?: string };
  members: SnapshotMember[];
}

/**
 * `groups` groups with OG ids `firstId`…; member i of group g is user g*1000+i with its own
 * email; a fixed mix: every 9th pending, every 13th blocked, two in twenty admins.
 */
export function generateSnapshots(groups: number, perGroup: number, firstId = 101): SnapshotLine[] {
  return Array.from({ length: groups }, (_, g) => {
    const ogId = firstId + g;
    return {
      group: { id: ogId, title: `Generated Group ${ogId}`, description: `generated group ${g + 1} of ${groups}` },
      members: Array.from({ length: perGroup }, (_, i) => {
        const uid = ogId * 1000 + i;
        const state: State = i % 9 === 4 ? 'pending' : i % 13 === 6 ? 'blocked' : 'active';
        return {
          user: { id: uid, email: `u${uid}@generated.example.org`, first_name: `Given${uid}`, last_name: `Family${uid}` },
          state,
          is_admin: i % 20 === 0 || i % 20 === 4,
        };
      }),
    };
  });
}

/** JSON lines; a string is written as is (for malformed lines). */
export const jsonl = (lines: readonly unknown[]) => lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n';

export const memberCount = (lines: SnapshotLine[]) => lines.reduce((n, l) => n + l.members.length, 0);

/** What CiviCRM must hold for a membership, per CONTRACT.md (undefined: no row). */
export function wanted(m: SnapshotMember): { member: string; acl: string | undefined } {
  return {
    member: m.state === 'active' ? 'Added' : m.state === 'pending' ? 'Pending' : 'Removed',
    acl: m.state === 'active' && m.is_admin ? 'Added' : undefined,
  };
}

/**
 * Every difference between the emulator and the lines, [] when CiviCRM is as the lines say:
 * both groups, the ACL, each member's rows. `aclRemovedIsAbsent` accepts a Removed ACL row
 * where none is wanted (after a repair, a row that existed stays as Removed).
 */
export function differences(emulator: CiviEmulator, lines: SnapshotLine[], options: { aclRemovedIsAbsent?: boolean } = {}): string[] {
  const out: string[] = [];
  const db = emulator.db;
  for (const line of lines) {
    const ogId = line.group.id;
    const { member, acl, acls } = ogGroups(emulator, ogId);
    if (!member || !acl) {
      out.push(`OG ${ogId}: member or ACL group missing`);
      continue;
    }
    if (member.title !== line.group.title) out.push(`OG ${ogId}: title ${member.title}`);
    if (acls.length !== 1 || acls[0]!.object_id !== member.id) out.push(`OG ${ogId}: ${acls.length} ACL rows`);
    for (const m of line.members) {
      const contactId = db.ufMatchByUfId(m.user.id)?.contact_id;
      if (contactId === undefined) {
        out.push(`OG ${ogId} user ${m.user.id}: no contact`);
        continue;
      }
      const aclStatus = db.groupContactStatus(acl.id, contactId);
      const actual = {
        member: db.groupContactStatus(member.id, contactId),
        acl: options.aclRemovedIsAbsent && aclStatus === 'Removed' ? undefined : aclStatus,
      };
      const want = wanted(m);
      if (actual.member !== want.member || actual.acl !== want.acl) {
        out.push(`OG ${ogId} user ${m.user.id}: ${JSON.stringify(actual)}, wanted ${JSON.stringify(want)}`);
      }
    }
  }
  return out;
}

/** Emails of the lines that have more (or fewer) than one contact. */
export function contactCountsOff(emulator: CiviEmulator, lines: SnapshotLine[]): string[] {
  return lines.flatMap((l) =>
    l.members.flatMap((m) => {
      const n = emulator.db.contactsByEmail(m.user.email).length;
      return n === 1 ? [] : [`${m.user.email}: ${n} contacts`];
    }),
  );
}

/** The CLI's environment for an emulator and a SQLite file. */
export function cliEnv(emulator: CiviEmulator, sqlitePath: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    CIVICRM_URL: emulator.restUrl,
    CIVICRM_API_KEY: emulator.apiKey,
    CIVICRM_SITE_KEY: emulator.siteKey,
    WEBHOOK_SECRETS: SECRET,
    DATABASE_URL: `sqlite:${sqlitePath}`,
    ...extra,
  };
}

/** The emulator's whole state, to compare byte for byte (ids to come included). */
export function dumpEmulator(emulator: CiviEmulator): string {
  const db = emulator.db;
  const tables = {
    groups: db.groups,
    groupContacts: db.groupContacts,
    contacts: db.contacts,
    emails: db.emails,
    ufMatches: db.ufMatches,
    optionGroups: db.optionGroups,
    optionValues: db.optionValues,
    acls: db.acls,
    aclEntityRoles: db.aclEntityRoles,
  };
  return JSON.stringify(
    Object.fromEntries(Object.entries(tables).map(([name, table]) => [name, { next: table.peekNextId(), rows: table.all() }])),
  );
}
