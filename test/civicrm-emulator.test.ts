/**
 * The CiviCRM emulator behaves as CiviCRM's API v3 over REST does
 * (the CIVICRM_API_V3.md notes, read against civicrm-core), checked over real HTTP.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type CiviEmulator } from './civicrm-emulator/index.js';

/** API answers are loosely typed JSON; the assertions check their shape. */
type Json = any;

interface CallOptions {
  method?: 'GET' | 'POST';
  auth?: 'legacy' | 'authx' | 'none';
  url?: string;
  /** Extra form fields, sent beside entity/action/json. */
  fields?: Record<string, string>;
  headers?: Record<string, string>;
}

interface Reply {
  status: number;
  contentType: string;
  text: string;
  body: Json;
}

/** Sends API calls to an emulator the way a client would, over HTTP. */
function clientFor(emulator: () => CiviEmulator) {
  async function send(form: Record<string, string>, opts: CallOptions = {}): Promise<Reply> {
    const emu = emulator();
    const auth = opts.auth ?? 'legacy';
    const fields: Record<string, string> = { ...form, ...opts.fields };
    const headers: Record<string, string> = { ...opts.headers };
    if (auth === 'legacy') {
      fields['key'] ??= emu.siteKey;
      fields['api_key'] ??= emu.apiKey;
      headers['X-Requested-With'] ??= 'XMLHttpRequest';
    }
    if (auth === 'authx') {
      headers['X-Civi-Auth'] ??= `Bearer ${emu.apiKey}`;
      headers['X-Civi-Key'] ??= emu.siteKey;
    }
    const encoded = new URLSearchParams(fields).toString();
    const base = opts.url ?? emu.restUrl;
    const res =
      opts.method === 'GET'
        ? await fetch(`${base}?${encoded}`, { headers })
        : await fetch(base, {
            method: 'POST',
            headers: { ...headers, 'Content-Type': 'application/x-www-form-urlencoded' },
            body: encoded,
          });
    const text = await res.text();
    let body: Json;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    return { status: res.status, contentType: res.headers.get('content-type') ?? '', text, body };
  }

  async function api(entity: string, action: string, params: Json = {}, opts: CallOptions = {}): Promise<Json> {
    return (await send({ entity, action, json: JSON.stringify(params) }, opts)).body;
  }

  return { send, api };
}

let civi: CiviEmulator;
const { send, api } = clientFor(() => civi);

let seq = 0;
const unique = (prefix: string): string => `${prefix} ${++seq}`;

async function newGroup(extra: Json = {}): Promise<number> {
  const title = unique('Group');
  const res = await api('Group', 'create', { title, name: title.replace(/ /g, '_'), group_type: [2], ...extra });
  expect(res.is_error).toBe(0);
  return res.id as number;
}

beforeAll(async () => {
  civi = await startEmulator();
});

afterAll(async () => {
  await civi.close();
});

afterEach(() => {
  civi.faults.clear();
  civi.version = '5.69.0';
});

describe('envelope', () => {
  it('returns strings keyed by id, a numeric top-level id, and leaves NULL columns out', async () => {
    const res = await api('Group', 'create', { title: 'Envelope Club', name: 'envelope_club', group_type: [2] });
    expect(res).toMatchObject({ is_error: 0, version: 3, count: 1 });
    expect(typeof res.id).toBe('number');
    const record = res.values[String(res.id)];
    expect(record).toMatchObject({ id: String(res.id), title: 'Envelope Club', is_active: '1', group_type: ['2'] });
    expect(record).not.toHaveProperty('description');

    const got = await api('Group', 'get', { id: res.id });
    expect(got.values[res.id]).toMatchObject({ name: 'envelope_club', visibility: 'User and User Admin Only' });
  });

  it('lists values with sequential, and gives [] when nothing matches', async () => {
    const id = await newGroup();
    const seqRes = await api('Group', 'get', { id, sequential: 1 });
    expect(Array.isArray(seqRes.values)).toBe(true);
    expect(seqRes.values[0].id).toBe(String(id));
    const none = await api('Group', 'get', { title: 'no such group anywhere' });
    expect(none).toEqual({ is_error: 0, version: 3, count: 0, values: [] });
  });

  it('wraps getcount and getvalue as {is_error, result}', async () => {
    const id = await newGroup({ description: 'described' });
    expect(await api('Group', 'getcount', { id })).toEqual({ is_error: 0, result: 1 });
    expect(await api('Group', 'getvalue', { id, return: 'description' })).toEqual({ is_error: 0, result: 'described' });
  });

  it('fails getsingle unless exactly one record matches', async () => {
    const none = await api('Group', 'getsingle', { title: 'nothing like this' });
    expect(none).toMatchObject({ is_error: 1, error_message: 'Expected one Group but found 0', count: 0 });
    const id = await newGroup();
    const one = await api('Group', 'getsingle', { id });
    expect(one.id).toBe(String(id));
  });

  it('reports unknown entities and mandatory fields with error codes', async () => {
    expect(await api('Nonsense', 'get')).toMatchObject({
      is_error: 1,
      error_code: 'not-found',
      error_message: 'API (Nonsense, get) does not exist (join the API team and implement it!)',
    });
    expect(await api('Group', 'create', { name: 'untitled' })).toMatchObject({
      is_error: 1,
      error_code: 'mandatory_missing',
      error_message: 'Mandatory key(s) missing from params array: title',
    });
  });
});

describe('get options and filters', () => {
  let source: string;
  let ids: number[];

  beforeAll(async () => {
    source = unique('paging');
    ids = [];
    for (let i = 0; i < 30; i++) ids.push(await newGroup({ source, title: `Paged ${String(i).padStart(2, '0')} ${source}` }));
  });

  it('returns 25 rows by default and all with limit 0', async () => {
    expect((await api('Group', 'get', { source })).count).toBe(25);
    expect((await api('Group', 'get', { source, options: { limit: 0 } })).count).toBe(30);
    expect((await api('Group', 'getcount', { source })).result).toBe(30);
  });

  it('ignores an options field sent beside json, so the 25-row default applies', async () => {
    const res = await api('Group', 'get', { source }, { fields: { options: JSON.stringify({ limit: 0 }) } });
    expect(res.count).toBe(25);
  });

  it('pages with limit, offset and sort', async () => {
    const res = await api('Group', 'get', { source, sequential: 1, options: { limit: 5, offset: 10, sort: 'title DESC' } });
    expect(res.values.map((g: Json) => g.title.slice(0, 9))).toEqual(['Paged 19 ', 'Paged 18 ', 'Paged 17 ', 'Paged 16 ', 'Paged 15 ']);
  });

  it('returns only the asked fields plus id', async () => {
    const res = await api('Group', 'get', { id: ids[0], return: ['title'] });
    expect(Object.keys(res.values[ids[0]!]).sort()).toEqual(['id', 'title']);
  });

  it('filters with IN, =, !=, LIKE and IS NULL, case-insensitively for text', async () => {
    const some = ids.slice(0, 3);
    expect((await api('Group', 'get', { id: { IN: some } })).count).toBe(3);
    expect((await api('Group', 'get', { source: source.toUpperCase() })).count).toBe(25);
    expect((await api('Group', 'get', { source, id: { '!=': ids[0] }, options: { limit: 0 } })).count).toBe(29);
    expect((await api('Group', 'get', { title: { LIKE: `paged 0%${source}` } })).count).toBe(10);
    expect((await api('Group', 'get', { source, description: { 'IS NULL': 1 }, options: { limit: 0 } })).count).toBe(30);
  });
});

describe('transport and authentication', () => {
  it('refuses actions other than get* by GET', async () => {
    const res = await api('Group', 'create', { title: unique('by get') }, { method: 'GET' });
    expect(res).toMatchObject({
      is_error: 1,
      error_message: 'SECURITY: All requests that modify the database must be http POST, not GET.',
    });
    expect((await api('Group', 'get', { options: { limit: 1 } }, { method: 'GET' })).is_error).toBe(0);
  });

  it('ignores a JSON request body', async () => {
    const res = await fetch(civi.restUrl, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Civi-Auth': `Bearer ${civi.apiKey}`, 'X-Civi-Key': civi.siteKey },
      body: JSON.stringify({ entity: 'Group', action: 'get', json: '{}' }),
    });
    expect(await res.text()).toContain('missing mandatory params');
  });

  it('answers legacy auth failures with HTTP 200 and a FATAL message', async () => {
    const noXhr = await send({ entity: 'Group', action: 'get', json: '{}' }, { headers: { 'X-Requested-With': 'nope' } });
    expect(noXhr.status).toBe(200);
    expect(noXhr.body.error_message).toBe('SECURITY ALERT: Ajax requests can only be issued by javascript clients, eg. CRM.api3().');

    const badKey = await send({ entity: 'Group', action: 'get', json: '{}' }, { fields: { api_key: 'wrong' } });
    expect(badKey.status).toBe(200);
    expect(badKey.body).toEqual({ error_message: 'FATAL: Invalid credential', is_error: 1 });

    const badSite = await send({ entity: 'Group', action: 'get', json: '{}' }, { fields: { key: 'wrong' } });
    expect(badSite.body.error_message).toMatch(/^FATAL: Login not permitted/);
  });

  it('answers authx failures with HTTP 401 text/plain', async () => {
    const ok = await send({ entity: 'System', action: 'get', json: '{}' }, { auth: 'authx' });
    expect(ok.body.values[0].version).toBe('5.69.0');

    const badKey = await send({ entity: 'System', action: 'get', json: '{}' }, { auth: 'authx', headers: { 'X-Civi-Auth': 'Bearer nope' } });
    expect(badKey.status).toBe(401);
    expect(badKey.contentType).toMatch(/^text\/plain/);
    expect(badKey.text).toBe('HTTP 401 Invalid credential');

    const badSite = await send({ entity: 'System', action: 'get', json: '{}' }, { auth: 'authx', headers: { 'X-Civi-Key': 'nope' } });
    expect(badSite.status).toBe(401);
    expect(badSite.text).toMatch(/^HTTP 401 Login not permitted/);

    expect((await send({ entity: 'System', action: 'get', json: '{}' }, { auth: 'none' })).status).toBe(403);
  });

  it('serves the legacy extern/rest.php endpoint with key and api_key only', async () => {
    const ok = await send({ entity: 'System', action: 'get', json: '{}' }, { url: civi.legacyUrl, headers: { 'X-Requested-With': '' } });
    expect(ok.body.values[0].version).toBe('5.69.0');
    const bad = await send({ entity: 'System', action: 'get', json: '{}' }, { url: civi.legacyUrl, fields: { key: 'x' } });
    expect(bad.body).toEqual({ error_message: 'Failed to authenticate key', is_error: 1 });
    const authx = await send({ entity: 'System', action: 'get', json: '{}' }, { url: civi.legacyUrl, auth: 'authx' });
    expect(authx.body.error_message).toBe('Failed to authenticate key');
  });

  it('answers XML without a json field', async () => {
    const res = await send({ entity: 'System', action: 'get' });
    expect(res.contentType).toMatch(/^text\/xml/);
    expect(res.text).toContain('<version>5.69.0</version>');
  });
});

describe('Group', () => {
  it('refuses a second group whose title or name differs only in case', async () => {
    const title = unique('Chess Club');
    await api('Group', 'create', { title, name: `chess_${seq}` });
    const sameTitle = await api('Group', 'create', { title: title.toLowerCase(), name: `other_${seq}` });
    expect(sameTitle).toMatchObject({ is_error: 1, error_message: 'DB Error: already exists' });
    const sameName = await api('Group', 'create', { title: unique('other title'), name: `CHESS_${seq - 1}` });
    expect(sameName.error_message).toBe('DB Error: already exists');
  });

  it('stores group_type from a list or the checkbox form; before 4.7.16 a list is read by its keys (type 0)', async () => {
    const typeOf = async (group_type: Json) => (await api('Group', 'get', { id: await newGroup({ group_type }), sequential: 1 })).values[0].group_type;
    expect(await typeOf([2])).toEqual(['2']);
    expect(await typeOf({ '2': 1 })).toEqual(['2']);
    civi.version = '4.7.15';
    expect(await typeOf([2])).toEqual(['0']);
    expect(await typeOf({ '2': 1 })).toEqual(['2']);
  });

  it('refuses a name over 64 characters with CiviCRM’s maxlength message', async () => {
    const res = await api('Group', 'create', { title: unique('long'), name: 'n'.repeat(70) });
    expect(res.error_message).toBe('Value for name is 70 characters  - This field has a maxlength of 64 characters.');
  });

  it('derives a name from the title and the new id when none is given', async () => {
    // munge() turns each run of non-ASCII-alphanumerics into one underscore, the trailing '!' included.
    const res = await api('Group', 'create', { title: 'Déjà vu: the club!' });
    expect(res.values[res.id].name).toBe(`D_j_vu_the_club__${res.id}`);
  });

  it('takes group_type as list, checkbox object, label or CTRL-A string, but not a comma string', async () => {
    const get = async (id: number): Promise<Json> => (await api('Group', 'getsingle', { id })).group_type;
    expect(await get(await newGroup({ group_type: [1, 2] }))).toEqual(['1', '2']);
    expect(await get(await newGroup({ group_type: { '1': 1 } }))).toEqual(['1']);
    expect(await get(await newGroup({ group_type: 'Mailing List' }))).toEqual(['2']);
    expect(await get(await newGroup({ group_type: '\u00011\u00012\u0001' }))).toEqual(['1', '2']);
    const comma = await api('Group', 'create', { title: unique('comma'), group_type: '1,2' });
    expect(comma.error_message).toBe("'1,2' is not a valid option for field group_type");
  });

  it('updates when given an id, and returns inactive groups too', async () => {
    const id = await newGroup();
    const res = await api('Group', 'create', { id, is_active: 0, description: 'now inactive' });
    expect(res.values[id]).toMatchObject({ is_active: '0', description: 'now inactive' });
    expect(civi.db.groups.get(id)?.is_active).toBe(false);
    expect((await api('Group', 'get', { id })).count).toBe(1);
  });

  it('deletes the group with its group contacts and the ACL entity roles pointing at it', async () => {
    const id = await newGroup();
    const contact = civi.db.addContact({ email: `${unique('del')}@example.org`.replace(/ /g, '') });
    await api('GroupContact', 'create', { group_id: id, contact_id: contact });
    civi.db.aclEntityRoles.insert({ acl_role_id: 1, entity_table: 'civicrm_group', entity_id: id, is_active: true });
    const res = await api('Group', 'delete', { id });
    expect(res).toEqual({ is_error: 0, version: 3, count: 1, values: true });
    expect(civi.db.groups.get(id)).toBeUndefined();
    expect(civi.db.membership(id, contact)).toBeUndefined();
    expect(civi.db.aclEntityRoles.filter((r) => r.entity_id === id)).toEqual([]);
    expect((await api('Group', 'delete', { id })).error_message).toBe(`Could not delete group ${id}`);
  });
});

describe('GroupContact', () => {
  let group: number;
  let a: number;
  let b: number;

  beforeAll(async () => {
    group = await newGroup();
    a = civi.db.addContact({ email: 'gc-a@example.org' });
    b = civi.db.addContact({ email: 'gc-b@example.org' });
  });

  it('counts added and not_added at the top level, and replaces the row with a new id', async () => {
    const first = await api('GroupContact', 'create', { group_id: group, contact_id: [a, b] });
    expect(first).toEqual({ is_error: 0, version: 3, count: 1, values: 1, total_count: 2, added: 2, not_added: 0 });
    const rowA = civi.db.membership(group, a)!;

    const again = await api('GroupContact', 'create', { group_id: group, contact_id: a, 'contact_id.2': b });
    expect(again).toMatchObject({ total_count: 2, added: 0, not_added: 2 });
    expect(civi.db.membership(group, a)!.id).toBe(rowA.id);

    await api('GroupContact', 'create', { group_id: group, contact_id: a, status: 'Pending' });
    const pending = civi.db.membership(group, a)!;
    expect(pending.status).toBe('Pending');
    expect(pending.id).toBeGreaterThan(rowA.id);
    expect(civi.db.groupContacts.get(rowA.id)).toBeUndefined();
  });

  it('updates in place when removing, and writes a Removed row counted not_removed when there is none', async () => {
    const before = civi.db.membership(group, b)!;
    const removed = await api('GroupContact', 'create', { group_id: group, contact_id: b, status: 'Removed' });
    expect(removed).toMatchObject({ total_count: 1, removed: 1, not_removed: 0 });
    expect(civi.db.membership(group, b)).toMatchObject({ id: before.id, status: 'Removed' });

    const stranger = civi.db.addContact({ email: 'gc-stranger@example.org' });
    const none = await api('GroupContact', 'create', { group_id: group, contact_id: stranger, status: 'Removed' });
    expect(none).toMatchObject({ total_count: 1, removed: 0, not_removed: 1 });
    expect(civi.db.groupContactStatus(group, stranger)).toBe('Removed');
  });

  it('gets Added rows by default, and per contact answers in getContactGroup’s shape', async () => {
    const c = civi.db.addContact({ email: 'gc-c@example.org' });
    await api('GroupContact', 'create', { group_id: group, contact_id: c });
    const added = await api('GroupContact', 'get', { group_id: group, sequential: 1 });
    expect(added.values.map((r: Json) => r.contact_id)).toEqual([String(c)]);
    expect((await api('GroupContact', 'get', { group_id: group, status: 'Pending' })).count).toBe(1);

    const perContact = await api('GroupContact', 'get', { contact_id: c, sequential: 1 });
    expect(perContact.values[0]).toMatchObject({ group_id: String(group), visibility: 'User and User Admin Only', in_method: 'API' });
    expect(perContact.values[0]).not.toHaveProperty('contact_id');
  });

  it('soft-deletes to Removed, hard-deletes with skip_undelete, and refuses without a row', async () => {
    const d = civi.db.addContact({ email: 'gc-d@example.org' });
    await api('GroupContact', 'create', { group_id: group, contact_id: d });
    const soft = await api('GroupContact', 'delete', { group_id: group, contact_id: d });
    expect(soft).toMatchObject({ removed: 1, total_count: 1 });
    expect(civi.db.groupContactStatus(group, d)).toBe('Removed');

    const row = civi.db.membership(group, d)!;
    await api('GroupContact', 'delete', { id: row.id, skip_undelete: 1 });
    expect(civi.db.membership(group, d)).toBeUndefined();

    const refused = await api('GroupContact', 'delete', { group_id: group, contact_id: d });
    expect(refused.error_message).toBe('Cannot Delete GroupContact');
  });

  it('names a group or contact that does not exist', async () => {
    expect(await api('GroupContact', 'create', { group_id: 999999, contact_id: a })).toMatchObject({
      error_message: "'999999' is not a valid option for field group_id",
      error_code: 2001,
      error_field: 'group_id',
    });
    expect((await api('GroupContact', 'create', { group_id: group, contact_id: 999999 })).error_message).toBe(
      'contact_id is not valid : 999999',
    );
    expect((await api('GroupContact', 'create', { group_id: group })).error_message).toBe(
      'Mandatory key(s) missing from params array: contact_id',
    );
  });
});

describe('Contact', () => {
  it('creates an Individual whose email becomes the primary email', async () => {
    const res = await api('Contact', 'create', { contact_type: 'Individual', email: 'ann@example.org', first_name: 'Ann', last_name: 'Lee' });
    expect(res.values[res.id]).toMatchObject({ display_name: 'Ann Lee', sort_name: 'Lee, Ann', contact_type: 'Individual' });
    expect(civi.db.primaryEmail(res.id)?.email).toBe('ann@example.org');
  });

  it('refuses an Individual with neither email nor name', async () => {
    const res = await api('Contact', 'create', { contact_type: 'Individual' });
    expect(res.error_message).toBe('Mandatory key(s) missing from params array: one of (first_name, last_name, email, display_name)');
  });

  it('reports duplicates with dupe_check', async () => {
    const one = civi.db.addContact({ email: 'twin@example.org' });
    const two = civi.db.addContact({ email: 'TWIN@example.org' });
    const res = await api('Contact', 'create', { contact_type: 'Individual', email: 'twin@example.org', dupe_check: 1 });
    expect(res).toMatchObject({ is_error: 1, error_code: 'duplicate', error_message: `Found matching contacts: ${one},${two}` });
  });

  it('finds by email exactly and case-insensitively, skipping deleted contacts', async () => {
    const live = civi.db.addContact({ email: 'Find.Me@example.org', first_name: 'Live' });
    civi.db.addContact({ email: 'find.me@example.org', is_deleted: true });
    civi.db.addContact({ email: 'find.me.not@example.org' });
    const res = await api('Contact', 'get', { email: 'find.me@EXAMPLE.org' });
    expect(res.count).toBe(1);
    expect(res.values[live]).toMatchObject({ contact_id: String(live), email: 'Find.Me@example.org', first_name: 'Live' });
    expect((await api('Contact', 'get', { id: { IN: [live] } })).count).toBe(1);
  });
});

describe('Email', () => {
  it('reads every email row with IN, and leaves out trashed contacts through contact_id.is_deleted', async () => {
    const address = `${unique('mail').replace(' ', '')}@example.org`;
    const live = civi.db.addContact({ email: `other-${address}` });
    civi.db.addEmail(live, address.toUpperCase());
    const trashed = civi.db.addContact({ email: address, is_deleted: true });
    const all = await api('Email', 'get', { email: { IN: [address] }, sequential: 1 });
    expect(all.values.map((e: Json) => [Number(e.contact_id), e.is_primary]).sort()).toEqual([[live, '0'], [trashed, '1']]);
    const kept = await api('Email', 'get', { email: { IN: [address] }, 'contact_id.is_deleted': 0, 'contact_id.no_such_field': 1, sequential: 1 });
    expect(kept.values.map((e: Json) => Number(e.contact_id))).toEqual([live]);
  });
});

describe('UFMatch', () => {
  it('links a user to a contact and finds it by uf_id', async () => {
    const contact = civi.db.addContact({ email: 'uf1@example.org' });
    const res = await api('UFMatch', 'create', { uf_id: 501, uf_name: 'uf1@example.org', contact_id: contact });
    expect(res.values[res.id]).toMatchObject({ uf_id: '501', contact_id: String(contact), domain_id: '1' });
    const got = await api('UFMatch', 'get', { uf_id: { IN: [501, 502] } });
    expect(got.count).toBe(1);
  });

  it('is unique per domain on uf_id, uf_name (any case) and contact_id', async () => {
    const contact = civi.db.addContact({ email: 'uf2@example.org' });
    const other = civi.db.addContact({ email: 'uf3@example.org' });
    civi.db.addUFMatch(601, contact, 'uf2@example.org');
    const clash = (params: Json): Promise<Json> => api('UFMatch', 'create', params);
    expect((await clash({ uf_id: 601, uf_name: 'x@example.org', contact_id: other })).error_message).toBe('DB Error: already exists');
    expect((await clash({ uf_id: 602, uf_name: 'UF2@example.org', contact_id: other })).error_message).toBe('DB Error: already exists');
    expect((await clash({ uf_id: 603, uf_name: 'y@example.org', contact_id: contact })).error_message).toBe('DB Error: already exists');
    expect((await clash({ uf_id: 601, uf_name: 'uf2@example.org', contact_id: contact })).is_error).toBe(0);
  });
});

describe('ACL records', () => {
  it('gives an acl_role option value the next numeric value and refuses a duplicate value', async () => {
    const res = await api('OptionValue', 'create', { option_group_id: 'acl_role', label: 'Chess: Administrator', description: 'OG Sync Group ACL :1:' });
    const role = res.values[res.id];
    expect(Number(role.value)).toBeGreaterThan(2);
    expect(role.option_group_id).toBe(String(civi.db.optionGroupId('acl_role')));
    const dup = await api('OptionValue', 'create', { option_group_id: 'acl_role', label: 'Again', value: role.value });
    expect(dup.error_message).toBe('Value already exists in the database');

    const renamed = await api('OptionValue', 'create', { id: res.id, label: 'Renamed: Administrator' });
    expect(renamed.values[res.id].value).toBe(role.value);
    expect((await api('OptionValue', 'get', { option_group_id: 'acl_role', value: role.value })).values[res.id].label).toBe('Renamed: Administrator');
  });

  it('takes AclRole’s acl_role_id for its id (dev/core#2615) unless an id is given', async () => {
    const group = await newGroup();
    const value = Number((await api('OptionValue', 'create', { option_group_id: 'acl_role', label: unique('Role'), value: 7 })).values[0]?.value ?? 7);
    const role = { acl_role_id: value, entity_table: 'civicrm_group', entity_id: group };
    const broken = await api('AclRole', 'create', role);
    expect(broken.is_error).toBe(0);
    expect(civi.db.aclEntityRoles.filter((r) => r.entity_id === group)).toEqual([]);

    const created = await api('AclRole', 'create', { ...role, id: 0 });
    expect(created.values[created.id]).toMatchObject({ acl_role_id: '7', entity_table: 'civicrm_group', is_active: '1' });
    expect((await api('AclRole', 'get', { acl_role_id: 7 })).values).not.toHaveProperty(String(created.id));
    expect((await api('AclRole', 'get', { ...role, id: { '>': 0 } })).id).toBe(created.id);

    expect((await api('ACLEntityRole', 'get', role)).error_message).toBe(
      'API (ACLEntityRole, get) does not exist (join the API team and implement it!)',
    );
  });

  it("refuses an AclRole whose acl_role_id is no acl_role option, as a role deleted by hand leaves it", async () => {
    const group = await newGroup();
    const res = await api('AclRole', 'create', { id: 0, acl_role_id: 99, entity_table: 'civicrm_group', entity_id: group });
    expect(res).toMatchObject({ is_error: 1, error_code: 2001, error_field: 'acl_role_id', error_message: "'99' is not a valid option for field acl_role_id" });
  });

  it('wants object_table civicrm_group from 5.64 and civicrm_saved_search before', async () => {
    const acl = { operation: 'Edit', entity_table: 'civicrm_acl_role', entity_id: 3, object_id: 9, name: 'acl' };
    const modern = await api('Acl', 'create', { ...acl, object_table: 'civicrm_group', priority: 2 });
    expect(modern.values[modern.id]).toMatchObject({ object_table: 'civicrm_group', priority: '2' });
    expect((await api('Acl', 'create', { ...acl, object_table: 'civicrm_saved_search' })).error_message).toMatch(
      /^'civicrm_saved_search' is not a valid option for field object_table/,
    );

    civi.version = '5.63.2';
    const old = await api('Acl', 'create', { ...acl, object_table: 'civicrm_saved_search', priority: 2 });
    expect(old.values[old.id]).not.toHaveProperty('priority');
    expect((await api('Acl', 'create', { ...acl, object_table: 'civicrm_group' })).error_message).toMatch(/civicrm_saved_search before 5\.64/);
    expect((await api('Acl', 'create', { ...acl, name: 'a'.repeat(65), object_table: 'civicrm_saved_search' })).error_message).toBe(
      'Value for name is 65 characters  - This field has a maxlength of 64 characters.',
    );

    civi.version = '5.64.0';
    expect(civi.db.acls.get(old.id)?.object_table).toBe('civicrm_group');
  });
});

describe('the ACL cache', () => {
  /** A contact in an ACL group whose role may edit a member group: returns both. */
  async function admin(): Promise<{ contactId: number; memberGroup: number; aclGroup: number; value: number }> {
    const memberGroup = await newGroup();
    const aclGroup = await newGroup({ group_type: { '1': 1 } });
    const role = await api('OptionValue', 'create', { option_group_id: 'acl_role', label: unique('Role') });
    const value = Number(role.values[role.id].value);
    const contactId = civi.db.addContact({ email: `${unique('admin').replace(' ', '')}@example.org` });
    await api('GroupContact', 'create', { group_id: aclGroup, contact_id: contactId });
    return { contactId, memberGroup, aclGroup, value };
  }

  afterEach(() => {
    civi.db.settings.acl_cache_refresh_mode = 'opportunistic';
  });

  it('keeps what it worked out until reset: API writes of ACLs and entity roles leave it stale', async () => {
    const { contactId, memberGroup, aclGroup, value } = await admin();
    expect(civi.db.aclCache.editableGroups(contactId)).toEqual([]);
    await api('AclRole', 'create', { id: 0, acl_role_id: value, entity_table: 'civicrm_group', entity_id: aclGroup });
    const acl = await api('Acl', 'create', { name: unique('acl'), operation: 'Edit', entity_table: 'civicrm_acl_role', entity_id: value, object_table: 'civicrm_group', object_id: memberGroup });
    expect(civi.db.aclCache.editableGroups(contactId)).toEqual([]);
    expect(await api('Job', 'acl_cache_flush')).toMatchObject({ is_error: 0, count: 1, values: 1 });
    expect(civi.db.aclCache.editableGroups(contactId)).toEqual([memberGroup]);
    // Deleting an ACL resets it.
    await api('Acl', 'delete', { id: acl.id });
    expect(civi.db.aclCache.editableGroups(contactId)).toEqual([]);
  });

  it('is reset by GroupContact changes in the opportunistic mode only (from 5.37), always before', async () => {
    const { contactId, memberGroup, aclGroup, value } = await admin();
    await api('AclRole', 'create', { id: 0, acl_role_id: value, entity_table: 'civicrm_group', entity_id: aclGroup });
    await api('Acl', 'create', { name: unique('acl'), operation: 'Edit', entity_table: 'civicrm_acl_role', entity_id: value, object_table: 'civicrm_group', object_id: memberGroup });
    await api('Job', 'acl_cache_flush');
    expect(civi.db.aclCache.editableGroups(contactId)).toEqual([memberGroup]);

    civi.db.settings.acl_cache_refresh_mode = 'deterministic';
    await api('GroupContact', 'create', { group_id: aclGroup, contact_id: contactId, status: 'Removed' });
    expect(civi.db.aclCache.editableGroups(contactId)).toEqual([memberGroup]);
    civi.db.settings.acl_cache_refresh_mode = 'opportunistic';
    await api('GroupContact', 'create', { group_id: aclGroup, contact_id: contactId, status: 'Removed' });
    expect(civi.db.aclCache.editableGroups(contactId)).toEqual([]);

    civi.version = '5.36.0';
    civi.db.settings.acl_cache_refresh_mode = 'deterministic';
    await api('GroupContact', 'create', { group_id: aclGroup, contact_id: contactId });
    expect(civi.db.aclCache.editableGroups(contactId)).toEqual([memberGroup]);
  });

  it('has no Job.acl_cache_flush before 5.37', async () => {
    civi.version = '5.36.0';
    expect(await api('Job', 'acl_cache_flush')).toEqual({
      error_code: 'not-found',
      entity: 'Job',
      action: 'acl_cache_flush',
      is_error: 1,
      error_message: 'API (Job, acl_cache_flush) does not exist (join the API team and implement it!)',
    });
  });
});

describe('chaining and transactions', () => {
  it('runs api.GroupContact.create after Group.create with the new group_id', async () => {
    const contact = civi.db.addContact({ email: 'chain@example.org' });
    const title = unique('Chained');
    const res = await api('Group', 'create', { title, 'api.GroupContact.create': { contact_id: contact } });
    expect(res.values[res.id]['api.GroupContact.create']).toMatchObject({ is_error: 0, added: 1 });
    expect(civi.db.groupContactStatus(res.id, contact)).toBe('Added');
  });

  it('rolls the parent back when a chained call fails', async () => {
    const title = unique('Rolled back');
    const res = await api('Group', 'create', { title, 'api.GroupContact.create': { contact_id: 987654 } });
    expect(res).toMatchObject({ is_error: 1, error_message: 'Error in call to GroupContact_create : contact_id is not valid : 987654' });
    expect(civi.db.groups.find((g) => g.title === title)).toBeUndefined();
  });
});

describe('api3 multi-call', () => {
  it('answers {key: full envelope} and logs each call, in one HTTP request', async () => {
    const group = await newGroup();
    civi.resetLog();
    const calls = {
      a: ['Group', 'get', { id: group }],
      b: ['GroupContact', 'create', { group_id: group, contact_id: civi.db.addContact({ email: 'multi@example.org' }) }],
      c: ['Group', 'create', {}],
    };
    const res = await send({ entity: 'api3', action: 'call', json: JSON.stringify(calls) });
    expect(res.body.a).toMatchObject({ is_error: 0, version: 3, count: 1, id: group });
    expect(res.body.b).toMatchObject({ is_error: 0, added: 1 });
    expect(res.body.c).toMatchObject({ is_error: 1, error_message: 'Mandatory key(s) missing from params array: title' });
    expect(civi.requests).toBe(1);
    expect(civi.calls.map((c) => `${c.entity}.${c.action}:${c.isError}`)).toEqual([
      'Group.get:false',
      'GroupContact.create:false',
      'Group.create:true',
    ]);
  });

  it('is not offered by extern/rest.php', async () => {
    const res = await send(
      { entity: 'api3', action: 'call', json: JSON.stringify({ a: ['System', 'get', {}] }) },
      { url: civi.legacyUrl },
    );
    expect(res.body.error_message).toBe('API (Api3, call) does not exist (join the API team and implement it!)');
  });
});

describe('faults and the call log', () => {
  const ping = (): Promise<Reply> => send({ entity: 'System', action: 'get', json: '{}' });

  it('fails the next n requests, then recovers', async () => {
    civi.resetLog();
    civi.faults.failNext(2);
    expect((await ping()).status).toBe(500);
    expect((await ping()).status).toBe(500);
    expect((await ping()).status).toBe(200);
    expect(civi.requests).toBe(3);
    expect(civi.calls).toHaveLength(1);
  });

  it('plays each fault kind', async () => {
    civi.faults.failNext(1, 'html');
    const html = await ping();
    expect([html.status, html.contentType.startsWith('text/html')]).toEqual([200, true]);
    civi.faults.failNext(1, 'is_error');
    expect((await ping()).body).toEqual({ is_error: 1, error_message: 'DB Error: database lock' });
    civi.faults.failNext(1, 'reset');
    await expect(ping()).rejects.toThrow();
    civi.faults.failNext(1, 'timeout');
    await expect(
      fetch(civi.restUrl, { method: 'POST', body: '', signal: AbortSignal.timeout(200) }),
    ).rejects.toThrow();
  });

  it('fails everything for a while', async () => {
    civi.faults.failFor(150);
    expect((await ping()).status).toBe(500);
    await new Promise((r) => setTimeout(r, 200));
    expect((await ping()).status).toBe(200);
  });

  it('delays answers', async () => {
    civi.faults.latency(150);
    const started = Date.now();
    await ping();
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
  });

  it('rejects Contact.create for a chosen email', async () => {
    civi.faults.rejectEmail('bounce@example.org', 'Invalid email');
    const res = await api('Contact', 'create', { contact_type: 'Individual', email: 'Bounce@example.org' });
    expect(res).toMatchObject({ is_error: 1, error_message: 'Invalid email' });
    expect(civi.db.contactsByEmail('bounce@example.org')).toEqual([]);
  });

  it('fails the next n calls of one action as a MySQL error would, then recovers', async () => {
    civi.faults.failCalls('Job', 'acl_cache_flush', 1);
    expect(await api('Job', 'acl_cache_flush')).toMatchObject({ is_error: 1, error_code: 'unknown error', error_message: 'DB Error: unknown error' });
    expect(await api('Job', 'acl_cache_flush')).toMatchObject({ is_error: 0, values: 1 });
  });

  it('refuses one action as to an API user without its permission', async () => {
    civi.faults.refuseCalls('Job', 'acl_cache_flush');
    expect(await api('Job', 'acl_cache_flush')).toEqual({
      error_code: 'unauthorized',
      entity: 'Job',
      action: 'acl_cache_flush',
      is_error: 1,
      error_message: 'API permission check failed for Job/acl_cache_flush call; insufficient permission: require administer CiviCRM',
    });
    expect(await api('Group', 'get', {})).toMatchObject({ is_error: 0 });
  });

  it('logs params, method and errors of each call', async () => {
    civi.resetLog();
    await api('Group', 'get', { title: 'logged' }, { method: 'GET' });
    await api('Group', 'create', {});
    expect(civi.calls).toEqual([
      { entity: 'Group', action: 'get', params: { title: 'logged' }, method: 'GET', isError: false },
      {
        entity: 'Group',
        action: 'create',
        params: {},
        method: 'POST',
        isError: true,
        errorMessage: 'Mandatory key(s) missing from params array: title',
      },
    ]);
  });
});

describe('scale', () => {
  it('holds a 10,000-member group: every row added, all of them read back with limit 0', async () => {
    const big = await startEmulator();
    const client = clientFor(() => big);
    try {
      const group = (await client.api('Group', 'create', { title: 'Big group', name: 'big_group' })).id as number;
      const contacts = Array.from({ length: 10_000 }, (_, i) => big.db.addContact({ email: `m${i}@example.org` }));
      for (let i = 0; i < contacts.length; i += 1000) {
        const res = await client.api('GroupContact', 'create', { group_id: group, contact_id: contacts.slice(i, i + 1000) });
        expect(res.added).toBe(1000);
      }
      const all = await client.api('GroupContact', 'get', { group_id: group, options: { limit: 0 }, return: ['contact_id'] });
      expect(all.count).toBe(10_000);
      const found = await client.api('Contact', 'get', { email: { IN: ['m1@example.org', 'm9999@example.org'] } });
      expect(found.count).toBe(2);
      expect(big.db.members(group)).toHaveLength(10_000);
    } finally {
      await big.close();
    }
  });
});
