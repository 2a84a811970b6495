// What CiviCRM and the process can do to the sync, and that nothing accepted is lost.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../src/logger.js';
import { startEmulator, type CiviEmulator } from './civicrm-emulator/index.js';
import { readFileSync } from 'node:fs';
import { drupalDelivery } from './drupal-emulator/sender.js';
import { ADMIN_TOKEN, drupalFixture, nativeBody, PLAIN_SECRET, signedNative, testEnv } from './support/app.js';
import { contactOf, ogGroups, statusesOf } from './support/civicrm-view.js';
import { startService, type Service } from './support/process.js';
import { startRig, type Rig } from './support/sync.js';
import { waitFor } from './support/wait.js';

const at = (minute: number) => new Date(Date.UTC(2026, 10, 24, 10, minute)).toISOString();
const member = (uid: number, email = `u${uid}@example.org`) => ({
  group_id: 42,
  user: { id: uid, email },
  state: 'active',
  is_admin: false,
});

describe('with the rig', () => {
  let rig: Rig;
  afterEach(async () => {
    await rig.close();
  });

  it('waits out a CiviCRM outage and loses nothing, without hammering it', async () => {
    rig = await startRig();
    rig.emulator.faults.failFor(1_500, 'http500');
    await rig.send('og.group.created', { group: { id: 42, title: 'Chess Club' } }, at(0));
    for (const uid of [7, 8, 9]) await rig.send('og.membership.created', member(uid), at(1));
    const { body } = await waitFor(async () => {
      const down = /^og_sync_civicrm_up 0$/m.test(await rig.metrics.registry.metrics());
      const status = await rig.admin('GET', '/admin/status');
      return down && (status.body.civicrm as { reachable: boolean }).reachable === false && status;
    }, 'the outage to show in /metrics and /admin/status');
    expect(body.dead).toBe(0);
    await rig.settle('the sync after the outage');
    for (const uid of [7, 8, 9]) expect(statusesOf(rig.emulator, 42, uid).member).toBe('Added');
    const metrics = await rig.metrics.registry.metrics();
    expect(metrics).toMatch(/^og_sync_civicrm_up 1$/m);
    expect(Number(/^og_sync_civicrm_request_seconds_count (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThan(1);
    expect((await rig.admin('GET', '/admin/events?status=dead')).body.events).toEqual([]);
    // Backoff, not a busy loop: a handful of attempts per second of outage at most.
    expect(rig.emulator.calls.filter((c) => c.isError).length).toBeLessThan(100);
  });

  it('keys a proxy echoes back encoded reach no log line, last_error, status or 503 detail', async () => {
    // Base64 keys, as CiviCRM's docs suggest making them: `+`, `/` and `=` are percent-encoded in the form body.
    const keys = { apiKey: 'Zm9v+YmFy/YmF6LXF1dXg+/w==', siteKey: 'c2l0ZS/ra2V5+MTIz/+Q=' };
    let logged = '';
    const sink = new Writable({ write: (chunk, _encoding, done) => ((logged += String(chunk)), done()) });
    rig = await startRig({ emulator: keys, logger: createLogger('debug', sink) });
    rig.emulator.faults.failFor(60_000, 'proxy-echo');
    await rig.send('og.group.created', { group: { id: 42, title: 'Chess Club' } }, at(0));
    await rig.send('og.membership.created', member(7), at(1));
    const group = await waitFor(async () => {
      const { body } = await rig.admin('GET', '/admin/groups/42');
      return (body.group as { lastError?: string | null }).lastError ? body : undefined;
    }, 'the proxy error to be recorded');
    const events = await rig.admin('GET', '/admin/events?status=pending');
    const status = await rig.admin('GET', '/admin/status');
    const reconcile = await rig.admin('POST', '/admin/groups/42/reconcile');
    expect(reconcile.status).toBe(503);
    const seen = JSON.stringify([group, events.body, status.body, reconcile.body]) + logged;
    expect(seen).toMatch(/HTTP 502: Bad Gateway Bad Gateway The upstream server refused the request: entity=/);
    expect(seen).toContain('[redacted]');
    for (const secret of Object.values(keys)) {
      for (const spelling of [secret, encodeURIComponent(secret), JSON.stringify(secret).slice(1, -1).replaceAll('/', '\\/')]) {
        expect(seen).not.toContain(spelling);
      }
    }
    rig.emulator.faults.clear();
    await rig.settle('the sync after the proxy recovers');
  });

  it('a rejected API key shows as CiviCRM unreachable, with the reason, and loses nothing', async () => {
    rig = await startRig({ env: { CIVICRM_API_KEY: 'not-the-key' } });
    await rig.send('og.group.created', { group: { id: 42, title: 'Chess Club' } }, at(0));
    const civicrm = await waitFor(async () => {
      const { body } = await rig.admin('GET', '/admin/status');
      const view = body.civicrm as { reachable: boolean | null; lastError: string | null };
      return view.reachable === false && view;
    }, 'the refusal to show');
    expect(civicrm.lastError).toMatch(/authenticat/i);
    expect(civicrm.lastError).not.toContain('not-the-key');
    expect((await rig.admin('GET', '/admin/events?status=dead')).body.events).toEqual([]);
  });

  it('a poison membership is dead with CiviCRM’s reason while its siblings sync; a replay after the fix applies it', async () => {
    rig = await startRig();
    rig.emulator.faults.rejectEmail('poison@example.org', 'Invalid email address');
    await rig.send('og.group.created', { group: { id: 42, title: 'Chess Club' } }, at(0));
    await rig.send('og.membership.created', member(7), at(1));
    const poison = await rig.send('og.membership.created', member(8, 'poison@example.org'), at(1));
    await rig.send('og.membership.created', member(9), at(1));
    await rig.settle();
    expect(statusesOf(rig.emulator, 42, 7).member).toBe('Added');
    expect(statusesOf(rig.emulator, 42, 9).member).toBe('Added');
    const dead = (await rig.admin('GET', '/admin/events?status=dead')).body.events as Array<Record<string, unknown>>;
    expect(dead).toEqual([expect.objectContaining({ id: poison.body.id, status: 'dead', last_error: expect.stringContaining('Invalid email address') })]);

    rig.emulator.faults.clear();
    const replay = await rig.admin('POST', `/admin/events/${String(poison.body.id)}/replay`);
    expect(replay).toEqual({ status: 202, body: { id: poison.body.id, status: 'pending' } });
    await rig.settle();
    expect(statusesOf(rig.emulator, 42, 8).member).toBe('Added');
    expect((await rig.admin('GET', '/admin/events?status=dead')).body.events).toEqual([]);
  });

  it('a group that died takes its memberships with it; replaying one of them brings both back', async () => {
    rig = await startRig();
    // Transient to CiviCRM's eyes, but for longer than the rig's three attempts last.
    rig.emulator.faults.failFor(60_000, 'is_error');
    await rig.send('og.group.created', { group: { id: 42, title: 'Chess Club' } }, at(0));
    const joined = await rig.send('og.membership.created', member(7), at(1));
    const dead = await waitFor(async () => {
      const events = (await rig.admin('GET', '/admin/events?status=dead')).body.events as Array<{ id: string }>;
      return events.length === 2 && events;
    }, 'the group and its membership to be dead');
    expect(dead.map((e) => e.id)).toContain(joined.body.id);
    await rig.settle('dead work to stop counting as work');

    rig.emulator.faults.clear();
    expect((await rig.admin('POST', `/admin/events/${String(joined.body.id)}/replay`)).status).toBe(202);
    await rig.settle();
    expect(statusesOf(rig.emulator, 42, 7).member).toBe('Added');
    expect((await rig.admin('GET', '/admin/events?status=dead')).body.events).toEqual([]);
  });

  it('applies deliveries of Drupal’s webhooks module end to end', async () => {
    rig = await startRig();
    for (const name of ['node-group-create', 'og-membership-create', 'og-membership-update-admin']) {
      const fixture = drupalFixture(name);
      const answer = await rig.sendDrupal(fixture.event, fixture);
      expect(answer.status).toBe(202);
      await rig.settle();
    }
    const article = drupalFixture('node-article-update');
    expect((await rig.sendDrupal(article.event, article)).body.status).toBe('ignored');
    const { member: group, acl } = ogGroups(rig.emulator, 42);
    expect(group!.title).toBe('Chess Club');
    expect(acl!.title).toBe('Chess Club: Administrator');
    // The node's author owns the group; user 9 was made an administrator by the update.
    expect(statusesOf(rig.emulator, 42, 7)).toEqual({ member: 'Added', acl: 'Added' });
    expect(statusesOf(rig.emulator, 42, 9)).toEqual({ member: 'Added', acl: 'Added' });

    const deletion = drupalFixture('og-membership-delete');
    await rig.sendDrupal(deletion.event, deletion);
    await rig.settle();
    expect(statusesOf(rig.emulator, 42, 9)).toEqual({ member: 'Removed', acl: 'Removed' });
  });
});

describe('a new group as Drupal creates it', () => {
  let rig: Rig;
  afterEach(async () => {
    await rig.close();
  });

  // OG's og_entity_insert() (Gizra/og 8.x-1.x, og.module) saves the owner's membership, with no
  // roles, inside the node's own insert hooks, and `og` runs before `webhooks`: the module
  // posts entity:og_membership:create before entity:node:create, each from inside the save.
  it('ends with its real title and the owner as admin, whichever is synced first, and no placeholder left', async () => {
    rig = await startRig();
    const bytes = (name: string) => readFileSync(new URL(`./fixtures/drupal/${name}.json`, import.meta.url));
    for (const name of ['og-membership-create-owner', 'node-group-create-escapes']) {
      const answer = await rig.deliver(drupalDelivery('8.x-1.0-alpha8', drupalFixture(name), PLAIN_SECRET, bytes(name)));
      expect(answer.status).toBe(202);
      // The worker may make the groups from the membership alone before the node arrives.
      await rig.settle();
    }
    const { member, acl, role } = ogGroups(rig.emulator, 42);
    expect(member!.title).toBe(`Tom & Jerry's <Club> "A/B" café`);
    expect(acl!.title).toBe(`Tom & Jerry's <Club> "A/B" café: Administrator`);
    expect(role!.label).toBe(`Tom & Jerry's <Club> "A/B" café: Administrator`);
    expect(rig.emulator.db.groups.all().filter((g) => /OG 42/.test(g.title))).toEqual([]);
    expect(statusesOf(rig.emulator, 42, 7)).toEqual({ member: 'Added', acl: 'Added' });
  });

  it("a group whose owner's account is cancelled (its node given to the anonymous user) leaves them their own membership only", async () => {
    rig = await startRig();
    for (const name of ['og-membership-create-owner', 'node-group-create']) {
      expect((await rig.deliver(drupalDelivery('8.x-1.0-alpha8', drupalFixture(name), PLAIN_SECRET))).status).toBe(202);
    }
    await rig.settle();
    expect(statusesOf(rig.emulator, 42, 7)).toEqual({ member: 'Added', acl: 'Added' });

    // user_cancel_reassign: the node is saved again, owned by uid 0.
    const reassigned = drupalFixture('node-group-create');
    reassigned.event = 'entity:node:update';
    reassigned.entity.uid = [{ target_id: 0, target_type: 'user', target_uuid: 'a0000000-0000-4000-8000-000000000000', url: '/user/0' }];
    reassigned.entity.changed = [{ value: '2026-11-24T11:00:00+00:00', format: 'Y-m-d\\TH:i:sP' }];
    expect((await rig.deliver(drupalDelivery('8.x-1.0-alpha8', reassigned, PLAIN_SECRET))).status).toBe(202);
    await rig.settle();
    expect((await rig.store.group(42))?.ownerUid).toBeUndefined();
    expect(statusesOf(rig.emulator, 42, 7)).toEqual({ member: 'Added', acl: 'Removed' });
  });
});

describe('a service killed mid-sync', () => {
  let emulator: CiviEmulator;
  let service: Service | undefined;
  let dir: string;
  afterEach(async () => {
    service?.child.signal('SIGKILL');
    await service?.child.exited;
    await emulator.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('picks the work up after a restart: every member lands once', { timeout: 150_000 }, async () => {
    emulator = await startEmulator();
    dir = mkdtempSync(join(tmpdir(), 'og-sync-kill-'));
    const env = testEnv({
      CIVICRM_URL: emulator.restUrl,
      CIVICRM_API_KEY: emulator.apiKey,
      CIVICRM_SITE_KEY: emulator.siteKey,
      DATABASE_URL: `sqlite:${join(dir, 'store.sqlite')}`,
    });
    service = await startService(env);
    // Slow CiviCRM down so the kill lands while contacts and memberships are being written.
    emulator.faults.latency(30);
    const members = Array.from({ length: 300 }, (_, i) => ({ user: { id: 1000 + i, email: `m${i}@example.org` }, state: 'active', is_admin: false }));
    const { headers, payload } = signedNative(nativeBody('og.group.snapshot', { group: { id: 42, title: 'Chess Club' }, members }, at(0)));
    const answer = await fetch(`${service.url}/webhooks/og`, { method: 'POST', headers, body: payload });
    expect(answer.status).toBe(202);
    await waitFor(() => emulator.calls.some((c) => c.entity === 'Contact' && c.action === 'create'), 'contacts being created');
    service.child.signal('SIGKILL');
    await service.child.exited;

    emulator.faults.clear();
    service = await startService(env);
    const url = service.url;
    await waitFor(async () => {
      const status = (await (await fetch(`${url}/admin/status`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json()) as {
        work: { groups: { dirty: number }; members: { dirty: number } };
      };
      return status.work.groups.dirty === 0 && status.work.members.dirty === 0;
    }, 'the restarted service to finish (after the lease of the killed process runs out)', { timeoutMs: 90_000 });

    for (const m of members) expect(statusesOf(emulator, 42, m.user.id).member).toBe('Added');
    const emails = emulator.db.emails.all().map((e) => e.email);
    expect(new Set(emails).size).toBe(emails.length);
    expect(emulator.db.groups.all()).toHaveLength(2);
    expect(contactOf(emulator, 1000)).toBeDefined();
  });
});
