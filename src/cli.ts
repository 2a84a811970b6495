#!/usr/bin/env node
// The command line: `og-civicrm-sync <command>`.
import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { loadConfig, loadDatabaseConfig, loadWebhookSecrets, parseDuration } from './config.js';
import { signNative } from './http/signatures.js';
import type { Store } from './ledger/store.js';
import { createLogger, drained, stdio } from './logger.js';
import { ingestSnapshots } from './operations/backfill.js';
import { driveToCompletion, OutcomeTally } from './operations/drive.js';
import { progressLine } from './operations/progress.js';
import { configOrExit, serve, storeOrExit } from './serve.js';
import { reconcileGroup, type ReconcileReport } from './sync/audit.js';
import { createSync, type SyncService } from './sync/service.js';
import { VERSION } from './version.js';

const HELP = `og-civicrm-sync ${VERSION}: keeps CiviCRM in step with Drupal Organic Groups

Usage: og-civicrm-sync <command> [options]

Commands:
  serve                 run the service (the same as npm start)
  migrate               create or update the store's schema (DATABASE_URL), then exit
  send <file.json>      sign a native event body with the first WEBHOOK_SECRETS secret and
                        post it to a running service; prints the answer
      --url <url>       where to post (default http://127.0.0.1:$PORT/webhooks/og)
      --id <id>         the event id (default: a new UUID)
  backfill <file>       bring existing groups in whole: JSON lines, one og.group.snapshot
                        "data" object per line ({"group": {...}, "members": [...]}), or -
                        for stdin; syncs to completion with progress and a summary.
                        Safe to run again: lines already taken are skipped.
      --at <time>       ISO time the export was taken, for lines without "timestamp"
                        (default: the file's modification time; now for stdin)
      --deadline <d>    stop after this long (30s, 15m, 2h) with what is left kept for
                        the next run or the service; exit code 3 (default: no deadline)
  reconcile             compare the synced groups with what CiviCRM really holds (every
                        GroupContact row and the ACL chain) and repair the difference;
                        OG is the source of truth
      --group <N>       only OG group N
      --dry-run         print the difference, change nothing
      --deadline <d>    as for backfill
  help                  this text

While CiviCRM is unreachable, backfill and reconcile wait for it and say so on stderr every
30 seconds. Exit codes: 0 done; 1 lines skipped, items dead or groups not reconciled; 2 usage
or configuration; 3 the deadline came first.

Configuration comes from the environment; see the README.`;

type Command = (args: string[]) => Promise<number>;

const commands: Record<string, Command> = {
  serve: async () => {
    await serve();
    return -1;
  },
  migrate: async () => {
    let applied: number[] = [];
    const store = await storeOrExit(configOrExit(loadDatabaseConfig), (versions) => (applied = versions));
    await store.close();
    console.log(applied.length > 0 ? `applied migrations ${applied.join(', ')}` : 'schema is up to date');
    return 0;
  },
  send: async (args) => {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: { url: { type: 'string' }, id: { type: 'string' } },
    });
    const file = positionals[0];
    if (!file) return usage('send needs a file: og-civicrm-sync send <file.json>');
    const [secret] = configOrExit(loadWebhookSecrets);
    const body = (await readFile(file, 'utf8')).trim();
    const url = values.url ?? `http://127.0.0.1:${process.env.PORT || 3000}/webhooks/og`;
    const headers = signNative(secret!, values.id ?? randomUUID(), body);
    const response = await fetch(url, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body });
    console.log(`${response.status} ${await response.text()}`);
    return response.status === 202 ? 0 : 1;
  },
  backfill: async (args) => {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: { at: { type: 'string' }, deadline: { type: 'string' } },
    });
    const file = positionals[0];
    if (!file) return usage('backfill needs a file: og-civicrm-sync backfill <file.jsonl | ->');
    const at = values.at ? new Date(values.at) : file === '-' ? new Date() : (await stat(file)).mtime;
    if (Number.isNaN(at.getTime())) return usage(`--at must be an ISO date-time, got "${values.at}"`);
    const deadlineAt = deadlineOf(values.deadline);
    if (deadlineAt === null) return usage(`--deadline takes a duration like 30s, 15m or 2h, got "${values.deadline}"`);
    return withSync(async (store, sync, tally) => {
      const input = file === '-' ? process.stdin : createReadStream(file);
      const intake = await ingestSnapshots(input, store, at, () => sync.worker.wake());
      for (const problem of intake.skipped) console.error(`line ${problem.line}: ${problem.error} (skipped)`);
      console.error(
        `read ${intake.groups} groups with ${intake.members} members: ${intake.accepted} new, ${intake.duplicates} already taken`,
      );
      const finished = await drive(store, sync, deadlineAt);
      for (const line of tally.lines()) console.log(line);
      if (intake.skipped.length > 0) console.log(`lines skipped: ${intake.skipped.length}`);
      if (finished === 'deadline') return DEADLINE_REACHED;
      return intake.skipped.length > 0 || tally.deadCount > 0 ? 1 : 0;
    });
  },
  reconcile: async (args) => {
    const { values } = parseArgs({
      args,
      options: { group: { type: 'string' }, 'dry-run': { type: 'boolean' }, deadline: { type: 'string' } },
    });
    if (values.group !== undefined && !/^[1-9]\d{0,14}$/.test(values.group)) return usage('--group takes an OG group id');
    const dryRun = values['dry-run'] ?? false;
    const deadlineAt = deadlineOf(values.deadline);
    if (deadlineAt === null) return usage(`--deadline takes a duration like 30s, 15m or 2h, got "${values.deadline}"`);
    return withSync(async (store, sync, tally) => {
      const ids = values.group ? [Number(values.group)] : await store.groupIds();
      let failed = 0;
      for (const ogId of ids) {
        if (deadlineAt !== undefined && Date.now() >= deadlineAt) {
          console.error(`deadline reached before OG group ${ogId}; run the command again to go on`);
          return DEADLINE_REACHED;
        }
        let report: Awaited<ReturnType<typeof reconcileGroup>>;
        try {
          report = await reconcileGroup(store, sync.reconciler, ogId, dryRun);
        } catch (error) {
          // One group CiviCRM refuses does not stop the others from being checked.
          failed++;
          console.error(`OG group ${ogId}: cannot be reconciled: ${(error as Error).message}`);
          continue;
        }
        if (report === undefined) return usage(`OG group ${ogId} is not known to the service`);
        if (report === 'busy') {
          console.error(`OG group ${ogId}: being synced by another process; skipped`);
          continue;
        }
        printReport(report);
      }
      if (dryRun) return failed > 0 ? 1 : 0;
      sync.worker.start();
      const finished = await drive(store, sync, deadlineAt);
      for (const line of tally.lines()) console.log(line);
      if (finished === 'deadline') return DEADLINE_REACHED;
      return tally.deadCount > 0 || failed > 0 ? 1 : 0;
    }, { startWorker: false });
  },
  help: async () => {
    console.log(HELP);
    return 0;
  },
};

/**
 * Runs a command with the store and an in-process sync whose outcomes are tallied; the
 * worker runs unless `startWorker` is false (a dry run must not sync what waits in the store).
 */
async function withSync(
  run: (store: Store, sync: SyncService, tally: OutcomeTally) => Promise<number>,
  { startWorker = true } = {},
): Promise<number> {
  const config = configOrExit(loadConfig);
  const logger = createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel, stdio(process.stderr));
  const store = await storeOrExit(config.database);
  const tally = new OutcomeTally();
  const sync = createSync(config, store, { logger, worker: { onOutcome: tally.record } });
  if (startWorker) sync.worker.start();
  // Interrupted, the lanes finish the group in hand and give up their leases, so that a
  // run started again right away need not wait for them to expire.
  const interrupt = (signal: NodeJS.Signals) => {
    console.error(`\n${signal}: stopping after the groups in hand; run the command again to go on`);
    void sync
      .close()
      .then(() => store.close())
      .then(() => drained(process.stderr, 2_000))
      .finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupt).once('SIGTERM', interrupt);
  try {
    return await run(store, sync, tally);
  } finally {
    process.off('SIGINT', interrupt).off('SIGTERM', interrupt);
    await sync.close();
    await store.close();
  }
}

const DEADLINE_REACHED = 3;

/** Epoch ms of a `--deadline` from now; undefined without one, null when it is not a duration. */
function deadlineOf(value: string | undefined): number | undefined | null {
  if (value === undefined) return undefined;
  const ms = parseDuration(value);
  return ms === undefined || ms === 0 ? null : Date.now() + ms;
}

/** Syncs until done or the deadline, saying so on stderr while CiviCRM cannot be reached. */
async function drive(store: Store, sync: SyncService, deadlineAt: number | undefined): Promise<'done' | 'deadline'> {
  const finished = await driveToCompletion(store, progressLine(process.stderr), {
    wake: () => sync.worker.wake(),
    deadlineAt,
    civicrm: () => sync.control.civicrm(),
    say: (line) => console.error(line),
  });
  if (finished === 'deadline') console.error('deadline reached; what is left is kept for the next run or the service');
  return finished;
}

/** Prints what a reconcile found. */
function printReport(report: ReconcileReport): void {
  const verb = report.dryRun ? 'would' : 'will';
  const lines = [
    ...report.groupChanges.map((c) => `${report.dryRun ? 'would ' : ''}${c}`),
    ...report.missing.map((m) => `user ${m.uid} (contact ${m.contactId}) missing from the ${m.group} group: ${verb} be ${m.wanted}`),
    ...report.wrongStatus.map(
      (w) => `user ${w.uid} (contact ${w.contactId}) is ${w.actual} in the ${w.group} group: ${verb} be ${w.wanted}`,
    ),
    ...report.extra.map((e) => `contact ${e.contactId} is ${e.actual} in the ${e.group} group but not in OG: ${report.dryRun ? 'would be' : ''} Removed`),
    ...(report.withoutContact.length > 0 ? [`${report.withoutContact.length} member(s) have no CiviCRM contact yet`] : []),
  ];
  console.log(`OG group ${report.ogId} (member group ${report.memberGroupId ?? 'none'}, ACL group ${report.aclGroupId ?? 'none'}): ${lines.length === 0 ? 'in step' : `${lines.length} difference(s)`}`);
  for (const line of lines) console.log(`  ${line.replace(/ {2,}/g, ' ')}`);
}

function usage(problem: string): number {
  console.error(`og-civicrm-sync: ${problem}\n\n${HELP}`);
  return 2;
}

const [name = 'help', ...rest] = process.argv.slice(2);
const command = commands[name === '--help' || name === '-h' ? 'help' : name];
const code = command ? await command(rest) : usage(`unknown command "${name}"`);
if (code >= 0) process.exitCode = code;
