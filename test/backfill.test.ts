// `og-civicrm-sync backfill <file>` as an operator runs it: the real CLI in a child process
// (`node --import tsx src/cli.ts`), against a CiviCRM emulator started in this process, with
// its own SQLite store. Generated files; the end state is read from the emulator's tables.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startEmulator, type CiviEmulator } from './civicrm-emulator/index.js';
import { tempDir } from './support/app.js';
import { ogGroups } from './support/civicrm-view.js';
import { Child, childEnv, GiveUp, pollUntil, REPO_ROOT, runCli, spawnTs } from './support/process.js';
import {
  cliEnv,
  contactCountsOff,
  differences,
  generateSnapshots as generate,
  jsonl,
  wanted,
  type SnapshotLine,
} from './support/snapshots.js';

function groupComplete(emulator: CiviEmulator, line: SnapshotLine): boolean {
  return differences(emulator, [line]).length === 0;
}

/** The summary line of the intake: `read G groups with M members: N new, D already taken`. */
function intakeLine(stderr: string) {
  const match = /read (\d+) groups with (\d+) members: (\d+) new, (\d+) already taken/.exec(stderr);
  if (!match) return undefined;
  const [groups, members, fresh, taken] = match.slice(1).map(Number) as [number, number, number, number];
  return { groups, members, fresh, taken };
}

function membershipSummary(stdout: string) {
  const match = /memberships: (\d+) created, (\d+) updated, (\d+) unchanged, (\d+) dead/.exec(stdout);
  if (!match) return undefined;
  const [created, updated, unchanged, dead] = match.slice(1).map(Number) as [number, number, number, number];
  return { created, updated, unchanged, dead };
}

let emulator: CiviEmulator;
let dir: ReturnType<typeof tempDir>;
let env: Record<string, string>;

beforeEach(async () => {
  emulator = await startEmulator();
  dir = tempDir();
  env = cliEnv(emulator, join(dir.path, 'ledger.sqlite'), { SYNC_CONCURRENCY: '4' });
});
afterEach(async () => {
  await emulator.close();
  dir.remove();
});

function writeLines(name: string, lines: readonly unknown[]): string {
  const path = join(dir.path, name);
  writeFileSync(path, jsonl(lines));
  return path;
}

const BIG_TIMEOUT = 5 * 60_000;

describe('backfill of 50 groups × 200 members', () => {
  it(
    'brings every member into its group with the right status and admins into the ACL groups; prints a summary; exits 0',
    async () => {
      const lines = generate(50, 200);
      const file = writeLines('groups.jsonl', lines);
      const run = await runCli(['backfill', file], env, BIG_TIMEOUT - 30_000);

      expect(run.stderr).not.toMatch(/line \d+:/);
      expect(intakeLine(run.stderr)).toEqual({ groups: 50, members: 10_000, fresh: 50, taken: 0 });
      expect(membershipSummary(run.stdout)).toEqual({ created: 10_000, updated: 0, unchanged: 0, dead: 0 });
      expect(run.stdout).toMatch(/groups synced: 50\b/);
      expect(run.code, `stdout: ${run.stdout}\nstderr: ${run.stderr}`).toBe(0);

      expect(differences(emulator, lines).slice(0, 20)).toEqual([]);
      expect(contactCountsOff(emulator, lines).slice(0, 20)).toEqual([]);
      // The new contacts carry the Drupal names.
      const contactId = emulator.db.ufMatchByUfId(101_007)!.contact_id;
      expect(emulator.db.contacts.get(contactId)).toMatchObject({ first_name: 'Given101007', last_name: 'Family101007' });
      const admins = lines.reduce((n, l) => n + l.members.filter((m) => wanted(m).acl === 'Added').length, 0);
      const aclAdded = lines.reduce((n, l) => n + emulator.db.members(ogGroups(emulator, l.group.id).acl!.id, 'Added').length, 0);
      expect(aclAdded).toBe(admins);
      console.log(`backfill of 50 × 200: ${emulator.requests} CiviCRM requests, ${emulator.calls.length} API calls`);
    },
    BIG_TIMEOUT,
  );

  it(
    'resumes after a kill mid-backfill, repeating no work already done',
    async () => {
      const lines = generate(50, 200);
      const file = writeLines('groups.jsonl', lines);
      // A slow CiviCRM keeps the first run busy long enough to be killed in the middle.
      emulator.faults.latency(40);
      const first = spawnTs('src/cli.ts', ['backfill', file], env);
      // OG groups whose member group got GroupContact writes. A lane records a group's members
      // in the ledger before it takes the next group, so with 4 lanes, 10 groups written means
      // at least 6 recorded as done.
      const groupsWritten = () =>
        new Set(
          emulator.calls
            .filter((c) => c.entity === 'GroupContact' && c.action === 'create')
            .map((c) => emulator.db.groups.get(Number(c.params.group_id))?.source)
            .filter((source) => source?.startsWith('OG Sync Group :')),
        ).size;
      await pollUntil(
        () => {
          if (!first.running) throw new GiveUp(`the first run ended before it could be killed: ${first.stdout}${first.stderr}`);
          return intakeLine(first.stderr) !== undefined && groupsWritten() >= 10;
        },
        { what: 'the first run to have read the file and written some GroupContacts', intervalMs: 5, timeoutMs: 120_000 },
      );
      first.signal('SIGKILL');
      expect(await first.exited).toMatchObject({ signal: 'SIGKILL' });
      emulator.faults.clear();

      // It really was interrupted in the middle.
      expect(intakeLine(first.stderr)).toEqual({ groups: 50, members: 10_000, fresh: 50, taken: 0 });
      const completeAtKill = new Set(lines.filter((l) => groupComplete(emulator, l)).map((l) => l.group.id));
      expect(completeAtKill.size).toBeLessThan(50);
      const contactsAtKill = new Set(
        lines.flatMap((l) => l.members.filter((m) => emulator.db.contactsByEmail(m.user.email).length > 0).map((m) => m.user.email)),
      );
      expect(contactsAtKill.size).toBeGreaterThan(0);
      expect(contactsAtKill.size).toBeLessThan(10_000);
      const sourcesAtKill = new Set(emulator.db.groups.all().map((g) => g.source));
      console.log(
        `killed with ${completeAtKill.size} of 50 groups complete and ${contactsAtKill.size} of 10,000 contacts made ` +
          `(${emulator.requests} requests so far)`,
      );

      emulator.resetLog();
      const second = await runCli(['backfill', file], env, BIG_TIMEOUT - 150_000);
      expect(second.code, `stdout: ${second.stdout}\nstderr: ${second.stderr}`).toBe(0);
      // The lines were all taken before the kill: the second run says so and does not apply them again.
      expect(intakeLine(second.stderr)).toEqual({ groups: 50, members: 10_000, fresh: 0, taken: 50 });
      const summary = membershipSummary(second.stdout);
      expect(summary).toBeDefined();
      expect(summary!.dead).toBe(0);

      // The end state is complete, with one contact per email.
      expect(differences(emulator, lines).slice(0, 20)).toEqual([]);
      expect(contactCountsOff(emulator, lines).slice(0, 20)).toEqual([]);

      // No work done before the kill was done again.
      const calls = emulator.calls;
      const recreatedContacts = calls
        .filter((c) => c.entity === 'Contact' && c.action === 'create' && contactsAtKill.has(String(c.params.email)))
        .map((c) => c.params.email);
      expect(recreatedContacts.slice(0, 20)).toEqual([]);
      const recreatedGroups = calls.filter((c) => c.entity === 'Group' && c.action === 'create' && c.params.id === undefined && sourcesAtKill.has(String(c.params.source)));
      expect(recreatedGroups).toEqual([]);
      // Groups complete in CiviCRM at the kill get no GroupContact writes, except those a lane
      // was in the middle of (written but not yet recorded): at most one per lane.
      const memberGroupOf = new Map(lines.map((l) => [ogGroups(emulator, l.group.id).member!.id, l.group.id]));
      const aclGroupOf = new Map(lines.map((l) => [ogGroups(emulator, l.group.id).acl!.id, l.group.id]));
      // A write goes by id, or chained through a contact cached before the kill.
      const writtenGroup = (c: (typeof calls)[number]): unknown =>
        c.entity === 'GroupContact' && c.action === 'create' ? c.params.group_id : (c.params['api.GroupContact.create'] as { group_id?: unknown } | undefined)?.group_id;
      const rewritten = new Set(
        calls
          .map(writtenGroup)
          .filter((groupId) => groupId !== undefined)
          .map((groupId) => memberGroupOf.get(Number(groupId)) ?? aclGroupOf.get(Number(groupId)))
          .filter((ogId): ogId is number => ogId !== undefined && completeAtKill.has(ogId)),
      );
      expect(rewritten.size).toBeLessThanOrEqual(4);
      // The second run synced exactly the members not recorded as done: every group but those
      // complete and recorded before the kill.
      const recorded = completeAtKill.size - rewritten.size;
      expect(recorded).toBeGreaterThan(0);
      expect(summary!.created + summary!.updated + summary!.unchanged).toBe(10_000 - 200 * recorded);
      console.log(`resume: ${emulator.requests} requests; ${rewritten.size} complete group(s) written again; summary ${JSON.stringify(summary)}`);
    },
    BIG_TIMEOUT,
  );
});

describe('users in several groups', () => {
  it('get one contact each, even when the groups are synced in parallel', async () => {
    // 12 groups share the same 60 users (plus 20 of their own each): lanes race to make them.
    const lines: SnapshotLine[] = Array.from({ length: 12 }, (_, g) => ({
      group: { id: 301 + g, title: `Shared ${g}` },
      members: [...Array.from({ length: 60 }, (_, i) => 9_000 + i), ...Array.from({ length: 20 }, (_, i) => 10_000 + g * 100 + i)].map(
        (uid) => ({
          user: { id: uid, email: `shared${uid}@backfill.example.org`, first_name: 'Shared', last_name: String(uid) },
          state: 'active' as const,
          is_admin: false,
        }),
      ),
    }));
    const run = await runCli(['backfill', writeLines('shared.jsonl', lines)], env);
    expect(run.code, `stdout: ${run.stdout}\nstderr: ${run.stderr}`).toBe(0);
    expect(differences(emulator, lines).slice(0, 20)).toEqual([]);
    expect(contactCountsOff(emulator, lines).slice(0, 20)).toEqual([]);
    expect(emulator.db.ufMatches.size).toBe(60 + 12 * 20);
  });
});

describe('malformed and refused lines', () => {
  it('are reported with their line numbers and reasons on stderr and skipped; the rest is applied; exit code 1', async () => {
    const good = generate(4, 20);
    const file = writeLines('mixed.jsonl', [
      good[0], // 1
      '{"group": {"id": 2, "title": "Broken"', // 2: not JSON
      good[1], // 3
      { group: { id: 0, title: 'Zero' }, members: [] }, // 4: group id must be positive
      '', // 5: blank, ignored
      { group: { id: 5, title: 'No state' }, members: [{ user: { id: 1, email: 'x@example.org' }, is_admin: false }] }, // 6
      good[2], // 7
      '[1, 2, 3]', // 8: not an object
      { members: [] }, // 9: no group
      good[3], // 10
      { ...(good[3] as object), group: { id: 11, title: 'From the future' }, timestamp: '2099-01-01T00:00:00Z' }, // 11: the one door refuses it
    ]);
    const run = await runCli(['backfill', file], env);

    const reported = [...run.stderr.matchAll(/^line (\d+): (.+)$/gm)].map((m) => Number(m[1]));
    expect(reported).toEqual([2, 4, 6, 8, 9, 11]);
    for (const n of [2, 4, 6, 8, 9, 11]) expect(run.stderr).toMatch(new RegExp(`^line ${n}: .*skipped`, 'm'));
    expect(run.stderr).toMatch(/^line 2: .*JSON/m);
    expect(run.stderr).toMatch(/^line 11: the change is dated more than a day in the future \(skipped\)$/m);
    expect(intakeLine(run.stderr)).toEqual({ groups: 4, members: 80, fresh: 4, taken: 0 });
    expect(run.stdout).toMatch(/lines skipped: 6/);
    expect(membershipSummary(run.stdout)).toEqual({ created: 80, updated: 0, unchanged: 0, dead: 0 });
    expect(run.code).toBe(1);

    expect(differences(emulator, good)).toEqual([]);
    for (const ogId of [0, 2, 5, 11]) expect(ogGroups(emulator, ogId).member).toBeUndefined();
    expect(emulator.db.groups.all().filter((g) => /Broken|Zero|No state|future/.test(g.title))).toEqual([]);
  });
});

describe('stdin', () => {
  it('reads the lines from stdin with -', async () => {
    const lines = generate(3, 10);
    const child = new Child(
      spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'backfill', '-'], {
        cwd: REPO_ROOT,
        env: childEnv(env),
        stdio: ['pipe', 'pipe', 'pipe'],
      }),
    );
    child.process.stdin!.end(jsonl(lines));
    const exit = await child.waitForExit(60_000);
    expect(exit.code, `stdout: ${child.stdout}\nstderr: ${child.stderr}`).toBe(0);
    expect(intakeLine(child.stderr)).toEqual({ groups: 3, members: 30, fresh: 3, taken: 0 });
    expect(membershipSummary(child.stdout)).toEqual({ created: 30, updated: 0, unchanged: 0, dead: 0 });
    expect(differences(emulator, lines)).toEqual([]);
  });
});

describe('--deadline', () => {
  it('ends a run while CiviCRM is unreachable, saying so on stderr, with the work kept (exit code 3)', async () => {
    const file = writeLines('waiting.jsonl', generate(2, 5));
    const unreachable = { ...env, CIVICRM_URL: 'http://127.0.0.1:9/civicrm/ajax/rest' };
    const run = await runCli(['backfill', file, '--deadline', '3s'], unreachable);
    expect(run.code, `stdout: ${run.stdout}\nstderr: ${run.stderr}`).toBe(3);
    expect(run.stderr).toMatch(/^CiviCRM is unreachable \(.*\); waiting for it, work is kept$/m);
    expect(run.stderr).toMatch(/deadline reached; what is left is kept/);

    // The next run, with CiviCRM there, finds the lines taken and finishes the work.
    const again = await runCli(['backfill', file], env);
    expect(again.code, again.stderr).toBe(0);
    expect(intakeLine(again.stderr)).toEqual({ groups: 2, members: 10, fresh: 0, taken: 2 });
    expect(differences(emulator, generate(2, 5))).toEqual([]);
  });

  it('refuses a deadline that is not a duration', async () => {
    const run = await runCli(['backfill', writeLines('x.jsonl', generate(1, 1)), '--deadline', 'soon'], env);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/--deadline takes a duration like 30s, 15m or 2h, got "soon"/);
  });
});
