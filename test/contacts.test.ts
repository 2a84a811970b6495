// Contact resolution against the CiviCRM emulator: the UFMatch link first, then the lowest
// non-deleted contact with the email, then a new contact; and the requests that costs.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CiviClient } from '../src/civicrm/client.js';
import type { UserRecord } from '../src/ledger/store.js';
import { resolveContacts } from '../src/sync/contacts.js';
import { startEmulator, type CiviEmulator } from './civicrm-emulator/index.js';

let emulator: CiviEmulator;
let civi: CiviClient;

beforeEach(async () => {
  emulator = await startEmulator();
  civi = new CiviClient({ url: emulator.restUrl, auth: 'authx', apiKey: emulator.apiKey, siteKey: emulator.siteKey });
});

afterEach(async () => {
  await civi.close();
  await emulator.close();
});

/** Users 1…n: every third linked by a UFMatch, every third with a contact by email only, the rest unknown. */
function seed(n: number): { users: UserRecord[]; linked: Map<number, number>; byEmail: Map<number, number> } {
  const users: UserRecord[] = [];
  const linked = new Map<number, number>();
  const byEmail = new Map<number, number>();
  for (let id = 1; id <= n; id++) {
    const email = `user${id}@example.org`;
    users.push({ id, email });
    if (id % 3 === 0) {
      // Another contact has the email too: the link wins over it.
      const contactId = emulator.db.addContact({ email: `old${id}@example.org` });
      emulator.db.addUFMatch(id, contactId, `old${id}@example.org`);
      emulator.db.addContact({ email });
      linked.set(id, contactId);
    } else if (id % 3 === 1) {
      byEmail.set(id, emulator.db.addContact({ email: email.toUpperCase() }));
    }
  }
  return { users, linked, byEmail };
}

describe.each([
  ['a sync’s few users: links and emails in one request', 90, 1],
  ['more than one call’s worth: the links, then the emails of the unlinked', 1_200, 2],
])('resolveContacts, %s', (_name, n, lookups) => {
  it('finds each user’s contact by link, then by email, and makes the rest', async () => {
    const { users, linked, byEmail } = seed(n);
    emulator.resetLog();
    const results = await resolveContacts(civi, users, { createMissing: true });
    // The lookups, the links of the contacts found by email, the new contacts.
    expect(emulator.requests).toBe(lookups + 1 + Math.ceil(n / 3 / 100));
    for (const user of users) {
      const result = results.get(user.id);
      if (linked.has(user.id)) expect(result).toEqual({ contactId: linked.get(user.id), linked: true, cached: false });
      else if (byEmail.has(user.id)) expect(result).toEqual({ contactId: byEmail.get(user.id), linked: false, cached: false });
      else expect(result).toMatchObject({ linked: true, cached: false, contactId: emulator.db.ufMatchByUfId(user.id)?.contact_id });
    }
  });
});

it('warns once about an email several contacts share, and uses the lowest', async () => {
  const lowest = emulator.db.addContact({ email: 'shared@example.org' });
  emulator.db.addContact({ email: 'Shared@example.org' });
  const warnings: unknown[] = [];
  const logger = { warn: (fields: unknown) => warnings.push(fields) } as never;
  const users = [{ id: 1, email: 'shared@example.org' }, { id: 2, email: 'SHARED@example.org' }];
  const results = await resolveContacts(civi, users, { createMissing: false, logger });
  expect([...results.values()]).toEqual([
    { contactId: lowest, linked: false, cached: false },
    { contactId: lowest, linked: false, cached: false },
  ]);
  expect(warnings).toHaveLength(1);
});

it("passes over a contact with the user's email that another Drupal user's UFMatch holds", async () => {
  // User 99 once had this email and has another now (its UFMatch's name followed); its contact
  // kept the old one. User 8 has it now, and no contact yet.
  const othersContact = emulator.db.addContact({ email: 'shared.inbox@example.org' });
  emulator.db.addUFMatch(99, othersContact, 'u99@example.org');
  emulator.resetLog();
  const kept = await resolveContacts(civi, [{ id: 8, email: 'shared.inbox@example.org' }], { createMissing: false });
  expect(kept.get(8)).toMatchObject({ permanent: true, error: expect.stringMatching(/no CiviCRM contact for Drupal user 8/) });
  expect(emulator.requests).toBe(2);

  const made = await resolveContacts(civi, [{ id: 8, email: 'shared.inbox@example.org' }], { createMissing: true });
  const contactId = emulator.db.ufMatchByUfId(8)?.contact_id;
  expect(contactId).not.toBe(othersContact);
  expect(made.get(8)).toEqual({ contactId, linked: true, cached: false });
  expect(emulator.db.ufMatchByUfId(99)?.contact_id).toBe(othersContact);
});

it('makes a contact of a user whose names are longer than CiviCRM keeps, cut to 64 characters each', async () => {
  const firstName = 'Maria da Conceição dos Santos Pereira de Albuquerque e Vasconcelos Melo';
  const lastName = '😀'.repeat(70);
  const made = await resolveContacts(civi, [{ id: 5, email: 'maria@example.org', firstName, lastName }], { createMissing: true });
  const contactId = emulator.db.ufMatchByUfId(5)?.contact_id;
  expect(made.get(5)).toEqual({ contactId, linked: true, cached: false });
  expect(emulator.db.contacts.get(contactId!)).toMatchObject({
    first_name: Array.from(firstName).slice(0, 64).join('').trimEnd(),
    last_name: '😀'.repeat(64),
  });
});

it('links the contact of a user whose email is too long for a UFMatch name by its first 128 characters', async () => {
  const email = `${'a'.repeat(120)}@example.org`;
  const made = await resolveContacts(civi, [{ id: 6, email }], { createMissing: true });
  const link = emulator.db.ufMatchByUfId(6);
  expect(made.get(6)).toEqual({ contactId: link?.contact_id, linked: true, cached: false });
  expect(link?.uf_name).toBe(email.slice(0, 128));
});
