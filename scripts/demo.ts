// npm run demo: the service and the built-in CiviCRM emulator on free ports, a handful of
// signed sample events, and what they made in CiviCRM.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadWebhookSecrets } from '../src/config.js';
import { signNative } from '../src/http/signatures.js';
import { startEmulator, type CiviEmulator } from '../test/civicrm-emulator/index.js';

const SECRET = 'demo-shared-secret';
const ADMIN_TOKEN = 'demo-admin-token-0123456789abcdef';
const root = fileURLToPath(new URL('..', import.meta.url));

const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const dim = (s: string) => (process.stdout.isTTY ? `\x1b[2m${s}\x1b[0m` : s);

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

const minute = (m: number) => new Date(Date.now() - (10 - m) * 60_000).toISOString();

const samples: Array<{ say: string; type: string; data: unknown; timestamp: string }> = [
  {
    say: 'Drupal creates the group "Chess Club", owned by Olive',
    type: 'og.group.created',
    timestamp: minute(0),
    data: { group: { id: 42, title: 'Chess Club', description: 'Tuesday nights', owner: { id: 1, email: 'olive@example.org', first_name: 'Olive', last_name: 'Owner' } } },
  },
  {
    say: 'Ann joins (she is already in CiviCRM, found by email)',
    type: 'og.membership.created',
    timestamp: minute(1),
    data: { group_id: 42, user: { id: 7, email: 'ann@example.org', first_name: 'Ann', last_name: 'Lee' }, state: 'active', is_admin: false },
  },
  {
    say: 'Bob asks to join (pending approval)',
    type: 'og.membership.created',
    timestamp: minute(2),
    data: { group_id: 42, user: { id: 8, email: 'bob@example.org', first_name: 'Bob', last_name: 'Stone' }, state: 'pending', is_admin: false },
  },
  {
    say: 'Cleo joins and is made a group administrator',
    type: 'og.membership.created',
    timestamp: minute(3),
    data: { group_id: 42, user: { id: 9, email: 'cleo@example.org', first_name: 'Cleo', last_name: 'Park' }, state: 'active', is_admin: true },
  },
  {
    say: 'The group is renamed "Chess & Go Club"',
    type: 'og.group.updated',
    timestamp: minute(4),
    data: { group: { id: 42, title: 'Chess & Go Club', description: 'Tuesday nights, now with Go' } },
  },
];

async function main() {
  const emulator = await startEmulator({ version: '5.69.0' });
  emulator.db.addContact({ email: 'ann@example.org', first_name: 'Ann', last_name: 'Lee' });
  const dataDir = mkdtempSync(join(tmpdir(), 'og-sync-demo-'));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;

  console.log(bold('og-civicrm-sync demo'));
  console.log(dim(`CiviCRM emulator ${emulator.version} at ${emulator.restUrl}`));
  console.log(dim(`service at ${base}, store ${join(dataDir, 'og-sync.sqlite')}\n`));

  const service = spawn(process.execPath, ['--import', 'tsx', join(root, 'src/main.ts')], {
    cwd: root,
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      CIVICRM_URL: emulator.restUrl,
      CIVICRM_API_KEY: emulator.apiKey,
      CIVICRM_SITE_KEY: emulator.siteKey,
      WEBHOOK_SECRETS: SECRET,
      ADMIN_TOKEN,
      DATABASE_URL: `sqlite:${join(dataDir, 'og-sync.sqlite')}`,
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const stopped = new Promise((resolve) => service.once('exit', resolve));

  try {
    await until(async () => (await fetch(`${base}/healthz`)).ok, 'the service to start');
    const [secret] = loadWebhookSecrets({ WEBHOOK_SECRETS: SECRET });
    for (const [i, sample] of samples.entries()) {
      const body = JSON.stringify({ type: sample.type, timestamp: sample.timestamp, data: sample.data });
      const headers = signNative(secret!, `demo-${i + 1}`, body);
      const answer = await fetch(`${base}/webhooks/og`, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json' },
        body,
      });
      console.log(`→ ${sample.say}\n  ${dim(`POST /webhooks/og ${sample.type}: ${answer.status} ${await answer.text()}`)}`);
    }
    await until(async () => {
      const status = (await (await fetch(`${base}/admin/status`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json()) as {
        work: { groups: { dirty: number }; members: { dirty: number } };
      };
      return status.work.groups.dirty === 0 && status.work.members.dirty === 0;
    }, 'the sync to finish');
    console.log(`\n${bold('What is now in CiviCRM')} ${dim(`(${emulator.requests} API requests)`)}\n`);
    printCivicrm(emulator);
  } finally {
    service.kill('SIGTERM');
    await stopped;
    await emulator.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

function printCivicrm(emulator: CiviEmulator) {
  const db = emulator.db;
  const typeName = (types: readonly number[]) => types.map((t) => (t === 1 ? 'Access Control' : t === 2 ? 'Mailing List' : t)).join(', ');
  const who = (contactId: number) => {
    const c = db.contacts.get(contactId);
    return `${c?.display_name ?? `contact ${contactId}`} <${db.primaryEmail(contactId)?.email ?? 'no email'}>`;
  };
  for (const group of db.groups.all()) {
    console.log(`${bold(`Group ${group.id}: ${group.title}`)}  ${dim(`[${typeName(group.group_type)}] source "${group.source}", name ${group.name}`)}`);
    const rows = db.groupContacts.all().filter((gc) => gc.group_id === group.id);
    for (const gc of rows) console.log(`  ${gc.status.padEnd(8)} ${who(gc.contact_id)}`);
    if (rows.length === 0) console.log(dim('  (no contacts)'));
  }
  console.log('');
  for (const role of db.optionValuesOf('acl_role').filter((r) => r.description?.startsWith('OG Sync'))) {
    console.log(`${bold('ACL role')} ${role.value} "${role.label}"`);
    for (const er of db.aclEntityRoles.all().filter((r) => r.acl_role_id === Number(role.value))) {
      console.log(`  held by the contacts of group ${er.entity_id} (${db.groups.get(er.entity_id)?.title})`);
    }
    for (const acl of db.acls.all().filter((a) => a.entity_id === Number(role.value))) {
      console.log(`  may ${acl.operation} the contacts of group ${acl.object_id} (${db.groups.get(acl.object_id ?? 0)?.title}) ${dim(`[${acl.object_table}]`)}`);
    }
  }
  console.log(`\n${dim('UF matches (Drupal user → contact):')} ${db.ufMatches.all().map((u) => `${u.uf_id}→${u.contact_id}`).join(', ')}`);
}

async function until(probe: () => Promise<boolean>, what: string, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await probe()) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
