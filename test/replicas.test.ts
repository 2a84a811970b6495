// Two service processes on one PostgreSQL store, one CiviCRM: deliveries spread over both
// replicas end up in CiviCRM once, with no group or contact made twice, and in the order Drupal
// sent them whatever the replicas' clocks say.
import { existsSync, readdirSync } from 'node:fs';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { startEmulator, type CiviEmulator } from './civicrm-emulator/index.js';
import { ADMIN_TOKEN, drupalFixture, nativeBody, signedDrupal, signedNative, testEnv, type DrupalDelivery } from './support/app.js';
import { statusesOf } from './support/civicrm-view.js';
import { createTestSchema, type TestSchema } from './support/postgres.js';
import { startService, type Service } from './support/process.js';
import { waitFor } from './support/wait.js';

let emulator: CiviEmulator;
let schema: TestSchema;
let replicas: Service[] = [];

beforeEach(async () => {
  emulator = await startEmulator();
  schema = await createTestSchema();
});

afterEach(async () => {
  for (const replica of replicas) {
    replica.child.signal('SIGKILL');
    await replica.child.exited;
  }
  replicas = [];
  await emulator.close();
  await schema.drop();
});

/** The configuration of every replica: this test's CiviCRM and database. */
const replicaEnv = (overrides: Record<string, string> = {}) =>
  testEnv({ CIVICRM_URL: emulator.restUrl, CIVICRM_API_KEY: emulator.apiKey, CIVICRM_SITE_KEY: emulator.siteKey, DATABASE_URL: schema.url, ...overrides });

it('two replicas share the work and make every group, contact and membership once', { timeout: 120_000 }, async () => {
  const env = replicaEnv({ SYNC_CONCURRENCY: '3' });
  replicas = await Promise.all([startService(env), startService(env)]);
  const at = (minute: number) => new Date(Date.UTC(2026, 10, 24, 10, minute)).toISOString();

  const deliveries: Array<{ type: string; data: unknown; timestamp: string }> = [];
  for (let g = 1; g <= 12; g++) {
    deliveries.push({ type: 'og.group.created', data: { group: { id: g, title: `Club ${g}` } }, timestamp: at(0) });
    for (let u = 1; u <= 10; u++) {
      // The same people join several clubs, so both replicas race to find or make their contacts.
      const user = { id: u, email: `member${u}@example.org` };
      deliveries.push({ type: 'og.membership.created', data: { group_id: g, user, state: 'active', is_admin: u === 1 }, timestamp: at(1) });
    }
    deliveries.push({ type: 'og.group.updated', data: { group: { id: g, title: `Club ${g} (renamed)` } }, timestamp: at(2) });
  }
  await Promise.all(
    deliveries.map(async (d, i) => {
      const { headers, payload } = signedNative(nativeBody(d.type, d.data, d.timestamp));
      const answer = await fetch(`${replicas[i % 2]!.url}/webhooks/og`, { method: 'POST', headers, body: payload });
      expect(answer.status).toBe(202);
    }),
  );

  await waitFor(async () => {
    const status = (await (await fetch(`${replicas[0]!.url}/admin/status`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json()) as {
      accepted: number;
      dead: number;
      work: { groups: { dirty: number }; members: { dirty: number } };
    };
    return status.accepted === deliveries.length && status.work.groups.dirty === 0 && status.work.members.dirty === 0 && status;
  }, 'both replicas to finish', { timeoutMs: 90_000 });

  const db = emulator.db;
  expect(db.groups.all()).toHaveLength(24);
  for (let g = 1; g <= 12; g++) {
    expect(db.groupBySource(`OG Sync Group :${g}:`)?.title).toBe(`Club ${g} (renamed)`);
    expect(statusesOf(emulator, g, 1)).toEqual({ member: 'Added', acl: 'Added' });
    for (let u = 2; u <= 10; u++) expect(statusesOf(emulator, g, u).member).toBe('Added');
  }
  const emails = db.emails.all().map((e) => e.email);
  expect(new Set(emails).size).toBe(emails.length);
  expect(db.ufMatches.all()).toHaveLength(10);
  expect(db.aclEntityRoles.all()).toHaveLength(12);
  expect(db.acls.all()).toHaveLength(12);
});

/** libfaketime as Debian installs it (package faketime), for a replica whose clock runs ahead. */
function libfaketime(): string {
  const found = readdirSync('/usr/lib', { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => `/usr/lib/${entry.name}/faketime/libfaketime.so.1`)
    .find((path) => existsSync(path));
  if (!found) throw new Error('libfaketime is missing: apt-get install faketime');
  return found;
}

it('replicas whose clocks disagree: a change answered by the one ahead is outranked by the next, taken by the one behind', { timeout: 120_000 }, async () => {
  const env = replicaEnv();
  const [ahead, behind] = (replicas = await Promise.all([
    // Monotonic time stays real: only the wall clock, the one events could be dated by, is off.
    startService({ ...env, LD_PRELOAD: libfaketime(), FAKETIME: '+30s', FAKETIME_DONT_FAKE_MONOTONIC: '1' }),
    startService(env),
  ]));
  const deliver = async (replica: Service, event: string, delivery: DrupalDelivery) => {
    const { headers, payload } = signedDrupal(event, delivery);
    const answer = await fetch(`${replica.url}/webhooks/drupal`, { method: 'POST', headers, body: payload });
    expect(answer.status).toBe(202);
    return Date.parse(answer.headers.get('date')!) - Date.now();
  };
  // Drupal posts each change once the one before is answered; memberships carry no time of their own.
  const joined = drupalFixture('og-membership-create');
  joined.entity.state = [{ value: 'active' }];
  // The answer's Date header is the replica's clock: the one ahead is, by about 30 s.
  expect(await deliver(ahead!, 'entity:og_membership:create', joined)).toBeGreaterThan(20_000);
  const blocked = drupalFixture('og-membership-create');
  blocked.event = 'entity:og_membership:update';
  blocked.entity.state = [{ value: 'blocked' }];
  expect(await deliver(behind!, 'entity:og_membership:update', blocked)).toBeLessThan(5_000);

  const members = await waitFor(async () => {
    const answer = await fetch(`${behind!.url}/admin/groups/42`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    const body = (await answer.json()) as { members: Array<{ uid: number; state: string; syncState: string }> };
    return body.members.every((m) => m.syncState === 'clean') && body.members;
  }, 'the membership to be synced', { timeoutMs: 60_000 });
  expect(members).toMatchObject([{ uid: 9, state: 'blocked' }]);
  expect(statusesOf(emulator, 42, 9).member).toBe('Removed');
});
