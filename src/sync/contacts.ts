// Finds or makes the CiviCRM contact of each Drupal user: the UFMatch link first, then
// the single non-deleted contact with the user's email, then (if allowed) a new
// Individual linked by a new UFMatch. Many users are resolved in a few requests.
import type { Logger } from 'pino';
import type { ApiCall } from '../civicrm/client.js';
import { CiviError } from '../civicrm/errors.js';
import type { UserRecord } from '../ledger/store.js';
import type { CiviApi } from './lease.js';
import { contactName, ufName } from './naming.js';

/** Users per lookup call; keeps request bodies well under PHP's post limits. */
const LOOKUP_CHUNK = 500;
/** Contact.create calls per request. */
const CREATE_CHUNK = 100;

/**
 * A user's contact, or why there is none. `linked`: the contact is the user's through a UFMatch
 * (found by it, or made with it), which CiviCRM moves to the contact kept when it merges two.
 * `cached`: taken from the ledger's cache without asking CiviCRM.
 */
export type ContactResult = { contactId: number; linked: boolean; cached: boolean } | { error: string; permanent: boolean };

export interface ContactOptions {
  createMissing: boolean;
  logger?: Logger;
}

/** Resolves every user; transport failures reject, per-user failures are in the map. */
export async function resolveContacts(
  civi: CiviApi,
  users: UserRecord[],
  options: ContactOptions,
): Promise<Map<number, ContactResult>> {
  const results = new Map<number, ContactResult>();
  for (const user of users) {
    if (user.contactId !== undefined) results.set(user.id, { contactId: user.contactId, linked: user.contactLinked === true, cached: true });
  }
  let missing = users.filter((u) => !results.has(u.id));

  for (const [uid, result] of await findContacts(civi, missing, options.logger)) results.set(uid, result);
  missing = missing.filter((u) => !results.has(u.id));

  for (const user of missing) {
    if (!user.email) {
      results.set(user.id, { error: `no CiviCRM contact for Drupal user ${user.id} and no email to create one`, permanent: true });
    } else if (!options.createMissing) {
      results.set(user.id, {
        error: `no CiviCRM contact for Drupal user ${user.id} (${user.email}) and CREATE_MISSING_CONTACTS is off`,
        permanent: true,
      });
    }
  }
  if (options.createMissing) {
    const created = await createContacts(civi, missing.filter((u) => u.email));
    // Another lane or replica may have linked the same user since the lookup (a user in several
    // groups synced at once): its UFMatch makes our chained UFMatch.create fail, which rolls our
    // new contact back. That link is the user's contact, not a reason for the membership to die.
    const refused = [...created].flatMap(([uid, result]) => ('error' in result ? [uid] : []));
    const linked = refused.length > 0 ? await byUfMatch(civi, refused) : new Map<number, number>();
    for (const [uid, result] of created) {
      const contactId = linked.get(uid);
      results.set(uid, contactId === undefined ? result : { contactId, linked: true, cached: false });
    }
  }
  return results;
}

/**
 * The contacts of users not in the cache: by UFMatch, else the lowest non-deleted contact with
 * the email. A sync's few users (one call's worth) have their links and emails looked up in one
 * request, a round trip saved for an indexed read of some emails in vain; more (a reconcile of a
 * big group, mostly linked) have the emails looked up only for the users the links leave out.
 */
async function findContacts(civi: CiviApi, users: UserRecord[], logger?: Logger): Promise<Map<number, ContactResult>> {
  const found = new Map<number, ContactResult>();
  const withEmail = users.filter((u) => u.email);
  const together = users.length <= LOOKUP_CHUNK;
  const ufMatches = ufMatchCalls(users.map((u) => u.id));
  const answers = await readAll(civi, together ? [...ufMatches, ...emailCalls(withEmail.map((u) => u.email!))] : ufMatches);
  for (const [uid, contactId] of linksOf(answers.slice(0, ufMatches.length))) found.set(uid, { contactId, linked: true, cached: false });

  const unlinked = withEmail.filter((u) => !found.has(u.id));
  const emailRows = together ? answers.slice(ufMatches.length) : await readAll(civi, emailCalls(unlinked.map((u) => u.email!)));
  const byEmail = await withoutCmsUsers(civi, contactsByEmail(emailRows), new Set(unlinked.map((u) => u.email!.toLowerCase())));
  const warned = new Set<string>();
  for (const user of unlinked) {
    const email = user.email!.toLowerCase();
    const ids = byEmail.get(email) ?? [];
    if (ids.length === 0) continue;
    if (ids.length > 1 && !warned.has(email)) {
      warned.add(email);
      logger?.warn({ email, contactIds: ids }, 'several CiviCRM contacts share an email; using the lowest id');
    }
    found.set(user.id, { contactId: ids[0]!, linked: false, cached: false });
  }
  return found;
}

async function byUfMatch(civi: CiviApi, uids: number[]): Promise<Map<number, number>> {
  return linksOf(await readAll(civi, ufMatchCalls(uids)));
}

function ufMatchCalls(uids: number[]): ApiCall[] {
  return chunks(uids, LOOKUP_CHUNK).map((chunk) => ['UFMatch', 'get', { uf_id: { IN: chunk }, return: ['uf_id', 'contact_id'], options: { limit: 0 } }]);
}

/** Drupal uid → linked contact id, from the answers of ufMatchCalls. */
function linksOf(answers: Array<Array<Record<string, unknown>>>): Map<number, number> {
  const found = new Map<number, number>();
  for (const rows of answers) for (const row of rows) found.set(Number(row.uf_id), Number(row.contact_id));
  return found;
}

/**
 * Email.get is a plain table read whose `IN` filter every version serves (Contact.get reads
 * `email` through the legacy query builder); `contact_id.is_deleted` joins the contact to leave
 * out the trash.
 */
function emailCalls(emails: string[]): ApiCall[] {
  const unique = [...new Set(emails.map((e) => e.toLowerCase()))];
  return chunks(unique, LOOKUP_CHUNK).map((chunk) => [
    'Email',
    'get',
    { email: { IN: chunk }, 'contact_id.is_deleted': 0, return: ['contact_id', 'email'], options: { limit: 0 } },
  ]);
}

/**
 * The candidates of the emails of users without a link, less the contacts a CMS user has: a
 * contact has one CMS user, and these users have none, so such a contact is another user's
 * (still carrying the email that user had before), and would be given their groups and admin
 * rights. One more request, only when the emails found any contact.
 */
async function withoutCmsUsers(civi: CiviApi, byEmail: Map<string, number[]>, emails: Set<string>): Promise<Map<string, number[]>> {
  const candidates = [...new Set([...byEmail].flatMap(([email, ids]) => (emails.has(email) ? ids : [])))];
  if (candidates.length === 0) return byEmail;
  const calls = chunks(candidates, LOOKUP_CHUNK).map((chunk): ApiCall => [
    'UFMatch',
    'get',
    { contact_id: { IN: chunk }, return: ['contact_id'], options: { limit: 0 } },
  ]);
  const taken = new Set((await readAll(civi, calls)).flat().map((row) => Number(row.contact_id)));
  return new Map([...byEmail].map(([email, ids]) => [email, ids.filter((id) => !taken.has(id))]));
}

/** Lower-cased email → the ids of the non-deleted contacts with it, lowest first, from the answers of emailCalls. */
function contactsByEmail(answers: Array<Array<Record<string, unknown>>>): Map<string, number[]> {
  const candidates = new Map<string, Set<number>>();
  for (const rows of answers) {
    for (const row of rows) {
      const email = String(row.email ?? '').toLowerCase();
      candidates.set(email, (candidates.get(email) ?? new Set()).add(Number(row.contact_id)));
    }
  }
  return new Map([...candidates].map(([email, ids]) => [email, [...ids].sort((a, b) => a - b)]));
}

async function createContacts(civi: CiviApi, users: UserRecord[]): Promise<Map<number, ContactResult>> {
  const results = new Map<number, ContactResult>();
  for (const chunk of chunks(users, CREATE_CHUNK)) {
    const calls: ApiCall[] = chunk.map((u) => [
      'Contact',
      'create',
      {
        contact_type: 'Individual',
        email: u.email,
        ...(u.firstName && { first_name: contactName(u.firstName) }),
        ...(u.lastName && { last_name: contactName(u.lastName) }),
        // Chained, so the contact and its link are made in one transaction or not at all: the link
        // is also what keeps two lanes from making two contacts of one user.
        'api.UFMatch.create': { uf_id: u.id, uf_name: ufName(u.email!) },
      },
    ]);
    const answers = await civi.batch(calls);
    answers.forEach((answer, i) => {
      const user = chunk[i]!;
      if (answer instanceof CiviError) {
        if (!answer.retryable && answer.kind === 'api') results.set(user.id, { error: answer.message, permanent: true });
        else throw answer;
      } else {
        results.set(user.id, { contactId: Number(answer.id ?? answer.values[0]?.id), linked: true, cached: false });
      }
    });
  }
  return results;
}

/** Runs read calls in one request; any failure fails the whole lookup. */
async function readAll(civi: CiviApi, calls: ApiCall[]): Promise<Array<Array<Record<string, unknown>>>> {
  if (calls.length === 0) return [];
  const answers = await civi.batch(calls);
  return answers.map((answer) => {
    if (answer instanceof CiviError) throw answer;
    return answer.values;
  });
}

export function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
