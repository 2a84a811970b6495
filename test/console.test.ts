// The operator console in a real browser (Debian's chromium through playwright-core), against the
// service and the CiviCRM emulator over real HTTP. Screenshots land in docs/console/ for the README.
import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildConsole } from '../scripts/build-console.js';
import { CiviClient } from '../src/civicrm/client.js';
import { statusesOf } from './support/civicrm-view.js';
import { ADMIN_TOKEN, tempDir, testApp, testConfig } from './support/app.js';
import { startRig, type Rig } from './support/sync.js';
import { waitFor } from './support/wait.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SHOTS = fileURLToPath(new URL('../docs/console/', import.meta.url));
const HOSTILE = '<img src=x onerror=alert(1)>';

const member = (uid: number, email = `u${uid}@example.org`) => ({ group_id: 42, user: { id: uid, email }, state: 'active', is_admin: false });
const at = (minutes: number) => new Date(Date.UTC(2026, 11, 1, 10, minutes)).toISOString();

const built = tempDir();
let rig: Rig;
let browser: Browser;
let page: Page;
const dialogs: string[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`no browser at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM_PATH)`);
  await buildConsole(built.path);
  rig = await startRig({ consoleDir: built.path });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on('dialog', (dialog) => {
    dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  mkdirSync(SHOTS, { recursive: true });

  // A club with a member CiviCRM refuses, and a group whose title is markup.
  rig.emulator.faults.rejectEmail('poison@example.org', 'Invalid email address');
  await rig.send('og.group.created', { group: { id: 42, title: 'Chess Club' } }, at(0));
  await rig.send('og.membership.created', member(7), at(1));
  await rig.send('og.membership.created', member(8, 'poison@example.org'), at(1));
  await rig.send('og.group.created', { group: { id: 66, title: HOSTILE } }, at(2));
  await rig.settle();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await rig?.close();
  built.remove();
});

describe('the console in a browser', () => {
  it('refuses a wrong token with a clear message, then signs in with the right one', async () => {
    await page.goto(`${rig.base}/console/`);
    await page.getByLabel('Admin token').fill('not-the-admin-token-at-all-not-at-all');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('That token was refused');

    await page.getByLabel('Admin token').fill(ADMIN_TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
    // Kept for the tab only.
    expect(await page.evaluate(() => [sessionStorage.length, localStorage.length, document.cookie])).toEqual([1, 0, '']);
  });

  it('shows the backlog, the dead event, CiviCRM and the store at a glance', async () => {
    const dead = page.locator('.card.bad');
    await expect.poll(() => dead.textContent()).toBe('Dead1');
    await expect.poll(() => page.locator('.facts').textContent()).toContain(`CiviCRM version${rig.emulator.version}`);
    const facts = await page.locator('.facts').textContent();
    expect(facts).toContain('sqlite, available');
    expect(await page.locator('.chart svg').getAttribute('aria-label')).toMatch(/^4 events accepted in the last hour/);
    await page.screenshot({ path: `${SHOTS}overview.png`, fullPage: true });
  });

  it('finds a group by title, opens it, and shows its CiviCRM ids and members with their last error', async () => {
    await page.getByRole('link', { name: 'Groups' }).click();
    await page.getByLabel('Find by OG id or title').fill('chess');
    await expect.poll(() => page.locator('tbody tr').count()).toBe(1);
    await page.getByRole('link', { name: 'Chess Club' }).click();
    await page.getByRole('heading', { name: 'Chess Club' }).waitFor();
    await expect.poll(() => page.locator('.facts').textContent()).toMatch(/CiviCRM member group\d+CiviCRM ACL group\d+/);
    await expect.poll(() => page.locator('tbody tr').count()).toBe(2);
    expect(await page.locator('tbody').textContent()).toContain('Invalid email address');
    await page.screenshot({ path: `${SHOTS}group.png`, fullPage: true });
  });

  it('reconciles with a dry run first: nothing changes until the repair is confirmed', async () => {
    const groupId = Number(/CiviCRM member group(\d+)/.exec((await page.locator('.facts').textContent()) ?? '')?.[1]);
    // Added by hand in CiviCRM: OG does not have this contact in the club.
    const stranger = rig.emulator.db.addContact({ email: 'stranger@example.org' });
    const civi = new CiviClient({ url: rig.emulator.restUrl, apiKey: rig.emulator.apiKey, siteKey: rig.emulator.siteKey, auth: 'legacy' });
    await civi.call('GroupContact', 'create', { group_id: groupId, contact_id: stranger });
    await civi.close();

    await page.getByRole('button', { name: 'Reconcile…' }).click();
    await expect.poll(() => page.locator('#reconcile-preview').textContent()).toContain('Dry run: 1 difference(s) found');
    expect(await page.locator('.differences').textContent()).toContain(`contact ${stranger} is Added in the member group but not in OG`);
    expect(rig.emulator.db.groupContactStatus(groupId, stranger)).toBe('Added');

    await page.getByRole('button', { name: 'Apply the repair' }).click();
    await expect.poll(() => page.getByRole('status').textContent()).toContain('Reconciled: 1 difference(s)');
    expect(rig.emulator.db.groupContactStatus(groupId, stranger)).toBe('Removed');
  });

  it('lists the dead event with its reason, and a replay after the fix settles it', async () => {
    await page.getByRole('link', { name: 'Events' }).click();
    await expect.poll(() => page.locator('tbody tr').count()).toBe(1);
    expect(await page.locator('tbody .reason').textContent()).toContain('Invalid email address');
    await page.screenshot({ path: `${SHOTS}events.png`, fullPage: true });

    rig.emulator.faults.clear();
    await page.getByRole('button', { name: /^Replay event / }).click();
    await expect.poll(() => page.getByRole('status').textContent()).toMatch(/is pending again/);
    await rig.settle();
    await waitFor(() => statusesOf(rig.emulator, 42, 8).member === 'Added', 'the replayed member to be added');
    await expect.poll(() => page.getByText('No dead events.').count(), { timeout: 10_000 }).toBe(1);
  });

  it('replays every dead event after a confirmation that says how many', async () => {
    rig.emulator.faults.rejectEmail('poison2@example.org', 'Invalid email address');
    rig.emulator.faults.rejectEmail('poison3@example.org', 'Invalid email address');
    await rig.send('og.membership.created', member(9, 'poison2@example.org'), at(3));
    await rig.send('og.membership.created', member(10, 'poison3@example.org'), at(3));
    await rig.settle();
    await expect.poll(() => page.locator('tbody tr').count(), { timeout: 10_000 }).toBe(2);
    await page.getByRole('button', { name: 'Replay all dead…' }).click();
    expect(await page.locator('#confirm-text').textContent()).toBe('Replay all 2 dead event(s)?');
    rig.emulator.faults.clear();
    await page.getByRole('button', { name: 'Replay 2' }).click();
    await expect.poll(() => page.getByRole('status').textContent()).toContain('2 dead event(s) put back');
    await rig.settle();
    expect([statusesOf(rig.emulator, 42, 9).member, statusesOf(rig.emulator, 42, 10).member]).toEqual(['Added', 'Added']);
  });

  it('shows a title made of markup as text, and runs nothing', async () => {
    await page.getByRole('link', { name: 'Groups' }).click();
    await page.getByLabel('Find by OG id or title').fill('img');
    const link = page.getByRole('link', { name: HOSTILE });
    await link.waitFor();
    await link.click();
    await expect.poll(() => page.locator('h1').textContent()).toBe(HOSTILE);
    expect(await page.locator('img').count()).toBe(0);
    expect(dialogs).toEqual([]);
  });

  it('reads at a phone’s width without the page scrolling sideways', async () => {
    await page.setViewportSize({ width: 360, height: 800 });
    await page.goto(`${rig.base}/console/#/`);
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(360);
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  it('is usable by keyboard: tab to the navigation and follow a link with Enter', async () => {
    await page.goto(`${rig.base}/console/#/`);
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Groups');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Groups' }).waitFor();
  });
});

describe('GET /console/', () => {
  it('is served with a strict content security policy, no framing and no referrer', async () => {
    const response = await fetch(`${rig.base}/console/`);
    expect(response.status).toBe(200);
    const csp = response.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(response.headers.get('x-frame-options')).toBe('DENY');
    expect(response.headers.get('referrer-policy')).toBe('no-referrer');
    // The page itself holds no inline script and no data.
    const page = await response.text();
    expect(page).not.toMatch(/<script(?![^>]*\bsrc=)/);
    expect(page).not.toContain('Chess Club');
    expect((await fetch(`${rig.base}/console`, { redirect: 'manual' })).headers.get('location')).toBe('/console/');
  });

  it('answers 404 when ADMIN_TOKEN is unset', async () => {
    const app = await testApp({ config: testConfig({ ADMIN_TOKEN: '' }), deps: { consoleDir: built.path } });
    for (const url of ['/console/', '/console/app.js', '/console']) {
      expect((await app.fastify.inject({ url })).statusCode).toBe(404);
    }
    await app.close();
  });
});
