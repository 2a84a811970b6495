import Database from 'better-sqlite3';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { OgChange, OgEvent, OgMember, OgUser } from '../src/events/model.js';
import { migrations } from '../src/ledger/migrations.js';
import { PostgresStore } from '../src/ledger/postgres.js';
import { SqliteStore } from '../src/ledger/sqlite.js';
import { Refused } from '../src/events/admission.js';
import { LeaseLost, type EventSummary, type Store } from '../src/ledger/store.js';
import { asHolder, CIVI, ogEvent, openTempStore, tempDir, userOf } from './support/app.js';
import { createTestSchema, openPostgresTempStore } from './support/postgres.js';

const T0 = Date.parse('2026-11-24T10:00:00Z');
const at = (minutes: number) => T0 + minutes * 60_000;

const ann: OgUser = { id: 7, email: 'ann@example.org', firstName: 'Ann', lastName: 'Lee' };
const bob: OgUser = { id: 8, email: 'bob@example.org', firstName: 'Bob' };
const cyd: OgUser = { id: 9 };

const member = (user: OgUser, state: OgMember['state'] = 'active', isAdmin = false): OgMember => ({ user, state, isAdmin });
const groupCreated = (id: number, title: string, extra: { description?: string; owner?: OgUser } = {}): OgChange => ({
  type: 'og.group.created',
  group: { id, title, ...extra },
});
const groupUpdated = (id: number, title: string, extra: { description?: string; owner?: OgUser | null } = {}): OgChange => ({
  type: 'og.group.updated',
  group: { id, title, ...extra },
});
const groupDeleted = (groupId: number): OgChange => ({ type: 'og.group.deleted', groupId });
const joined = (groupId: number, m: OgMember): OgChange => ({ type: 'og.membership.created', groupId, member: m });
const changed = (groupId: number, m: OgMember): OgChange => ({ type: 'og.membership.updated', groupId, member: m });
const left = (groupId: number, userId: number): OgChange => ({ type: 'og.membership.deleted', groupId, userId });
const snapshot = (id: number, title: string, members: OgMember[], owner?: OgUser): OgChange => ({
  type: 'og.group.snapshot',
  group: owner ? { id, title, owner } : { id, title },
  members,
});

/** Every test below runs against each store: their semantics are one specification. */
/** Every migration's version: what a fresh store applies. */
const ALL_VERSIONS = migrations.map((m) => m.version);

const STORES: Array<[name: string, open: () => Promise<{ store: Store; dispose(): Promise<void> }>]> = [
  ['SQLite', openTempStore],
  ['PostgreSQL', openPostgresTempStore],
];

let temp: { store: Store; dispose(): Promise<void> } | undefined;
let store: Store;

/** Accepts a change as an event with a fresh id; returns the id. */
async function accept(change: OgChange, occurredAt: number, id?: string): Promise<string> {
  const event = ogEvent(change, occurredAt, id);
  expect(await store.accept(event)).toBe('accepted');
  return event.id;
}

async function eventById(id: string): Promise<EventSummary> {
  const found = (await store.listEvents({ limit: 10_000 })).find((e) => e.id === id);
  if (!found) throw new Error(`event ${id} is not listed`);
  return found;
}

const statusOf = async (id: string) => (await eventById(id)).status;

async function memberOf(ogId: number, uid: number) {
  return (await store.members(ogId)).find((m) => m.uid === uid);
}

/** Marks everything the reconciler would see for a group as synced, the way a worker does. */
async function syncAll(ogId: number, now = Date.now()) {
  const work = await store.loadWork(ogId, now, 10_000);
  if (!work) throw new Error(`no work for group ${ogId}`);
  const lease = await asHolder(store, ogId);
  await store.groupSynced(lease, work.group.dirtySeq, { ...CIVI, memberGroupId: 1 }, now);
  await store.membersSynced(
    lease,
    work.members.map((m) => ({ uid: m.uid, dirtySeq: m.dirtySeq })),
  );
}

describe('migrate (SQLite)', () => {
  it('creates the schema once; a second run, or a run on a reopened file, applies nothing', async () => {
    const dir = tempDir();
    try {
      const path = `${dir.path}/nested/dir/store.sqlite`;
      const fresh = new SqliteStore(path);
      expect(await fresh.migrate()).toEqual(ALL_VERSIONS);
      expect(await fresh.migrate()).toEqual([]);
      await fresh.close();

      const reopened = new SqliteStore(path);
      expect(await reopened.migrate()).toEqual([]);
      expect(await reopened.eventCounts()).toEqual({ accepted: 0, pending: 0, retrying: 0, dead: 0, done: 0 });
      await reopened.close();

      const db = new Database(path, { readonly: true });
      try {
        expect(db.prepare('SELECT version FROM schema_migrations ORDER BY version').pluck().all()).toEqual(ALL_VERSIONS);
        expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      } finally {
        db.close();
      }
    } finally {
      dir.remove();
    }
  });
});

describe('migrate (PostgreSQL)', () => {
  it('creates the schema once; a second run, or a run from another store on the database, applies nothing', async () => {
    const schema = await createTestSchema();
    try {
      const fresh = new PostgresStore(schema.url);
      expect(await fresh.migrate()).toEqual(ALL_VERSIONS);
      expect(await fresh.migrate()).toEqual([]);
      await fresh.close();

      const reopened = new PostgresStore(schema.url);
      try {
        expect(await reopened.migrate()).toEqual([]);
        expect(await reopened.eventCounts()).toEqual({ accepted: 0, pending: 0, retrying: 0, dead: 0, done: 0 });
      } finally {
        await reopened.close();
      }

      const db = new pg.Client({ connectionString: schema.url });
      await db.connect();
      try {
        const versions = await db.query('SELECT version FROM schema_migrations ORDER BY version');
        expect(versions.rows.map((r) => r.version)).toEqual(ALL_VERSIONS);
        // In the schema of the URL's search_path, not in public.
        const tables = await db.query('SELECT table_name FROM information_schema.tables WHERE table_schema = $1', [schema.schema]);
        expect(tables.rows.map((r) => r.table_name)).toEqual(
          expect.arrayContaining(['event_targets', 'events', 'og_groups', 'og_members', 'schema_migrations', 'users']),
        );
      } finally {
        await db.end();
      }
    } finally {
      await schema.drop();
    }
  });
});

describe.each(STORES)('%s store', (_name, open) => {
  beforeEach(async () => {
    temp = await open();
    store = temp.store;
  });

  afterEach(async () => {
    await temp?.dispose();
    temp = undefined;
  });

  describe('accept', () => {
    it('records an event once: accepted, then duplicate, with nothing new', async () => {
      const event = ogEvent(joined(42, member(ann)), at(0), 'evt-1');
      expect(await store.accept(event)).toBe('accepted');
      const before = await store.members(42);

      // A redelivery, even with a different body or time, changes nothing.
      const again = ogEvent(joined(42, member(ann, 'blocked')), at(5), 'evt-1');
      expect(await store.accept(again)).toBe('duplicate');
      expect(await store.members(42)).toEqual(before);
      expect((await store.listEvents({ limit: 100 })).map((e) => e.id)).toEqual(['evt-1']);
      expect((await store.eventCounts()).accepted).toBe(1);
    });

    it('lists an event with its source, type and times', async () => {
      const event = { ...ogEvent(joined(42, member(ann)), at(0), 'evt-d'), source: 'drupal' as const, receivedAt: at(1) };
      await store.accept(event);
      expect(await store.listEvents({ limit: 10 })).toEqual([
        {
          id: 'evt-d',
          source: 'drupal',
          type: 'og.membership.created',
          status: 'pending',
          received_at: new Date(at(1)).toISOString(),
          occurred_at: new Date(at(0)).toISOString(),
          attempts: 0,
          last_error: null,
        },
      ]);
    });

    it("dates an event without a time of its own by the store's clock, whatever the host's clock said", async () => {
      // This host's clock an hour behind: a change dated by it would lose to older ones.
      const hourAgo = Date.now() - 3_600_000;
      const event: OgEvent = { ...ogEvent(left(42, 7), hourAgo, 'evt-r'), receivedAt: hourAgo, atReceipt: {} };
      const before = Date.now();
      await accept(joined(42, member(ann)), before - 60_000);
      await store.accept(event);
      const [listed] = await store.listEvents({ limit: 1 });
      expect(Date.parse(listed!.occurred_at)).toBeGreaterThanOrEqual(before - 1_000);
      expect(listed!.received_at).toBe(listed!.occurred_at);
      expect(await memberOf(42, 7)).toMatchObject({ state: 'deleted' });
    });

    it('dates a change that came after a time a millisecond after it, when that is later than the receipt, within a day', async () => {
      const atReceipt = async (id: string, after: number, change: OgChange) => {
        await store.accept({ ...ogEvent(change, Date.now(), id), atReceipt: { after } });
        const found = (await store.listEvents({ limit: 100 })).find((e) => e.id === id)!;
        return { occurred: Date.parse(found.occurred_at), received: Date.parse(found.received_at) };
      };
      const past = await atReceipt('del-past', Date.now() - 60_000, groupDeleted(41));
      expect(past.occurred).toBe(past.received);
      const ahead = Date.now() + 60_000;
      expect((await atReceipt('del-ahead', ahead, groupDeleted(42))).occurred).toBe(ahead + 1);
      // Both events go one by one (a group's) and as a batch of memberships: the same rule.
      expect((await atReceipt('left-ahead', ahead, left(43, 7))).occurred).toBe(ahead + 1);
      const far = await atReceipt('del-far', Date.now() + 10 * 86_400_000, groupDeleted(44));
      expect(far.occurred).toBe(far.received + 86_400_000);
    });
  });

  describe('the admission rules (one door)', () => {
    it('refuses an event the rules refuse, whoever brings it, and stores nothing of it', async () => {
      const future = { ...ogEvent(groupCreated(42, 'From the future'), Date.parse('2099-01-01T00:00:00Z')), receivedAt: Date.now() };
      await expect(store.accept(future)).rejects.toThrow(new Refused('the change is dated more than a day in the future'));
      await expect(store.accept(ogEvent(groupCreated(43, '   '), at(0)))).rejects.toThrow(/blank/);
      expect(await store.listEvents({ limit: 10 })).toEqual([]);
      expect(await store.group(42)).toBeUndefined();
      // A day ahead is still taken: clocks that differ by seconds or minutes are honest.
      expect(await store.accept({ ...ogEvent(groupCreated(44, 'Soon'), Date.now() + 60_000), receivedAt: Date.now() })).toBe('accepted');
    });
  });

  describe('ledger effect of each event type', () => {
    it("og.group.created: the group with title and description, dirty; the owner given the membership OG makes for an owner", async () => {
      await accept(groupCreated(42, 'Chess Club', { description: 'Tuesdays', owner: ann }), at(0));
      expect(await store.group(42)).toMatchObject({
        ogId: 42,
        title: 'Chess Club',
        description: 'Tuesdays',
        deleted: false,
        changedAt: at(0),
        syncState: 'dirty',
        attempts: 0,
      });
      // Ownership, not this row, makes the owner an admin (the group's ownerUid).
      expect(await store.group(42)).toMatchObject({ ownerUid: 7 });
      expect(await store.members(42)).toMatchObject([{ ogId: 42, uid: 7, state: 'active', isAdmin: false, syncState: 'dirty' }]);
      expect(await userOf(store, 7)).toEqual(ann);
    });

    it('og.group.updated: a new title; an absent description keeps the old one', async () => {
      await accept(groupCreated(42, 'Chess Club', { description: 'Tuesdays' }), at(0));
      await accept(groupUpdated(42, 'Chess & Go Club'), at(1));
      expect(await store.group(42)).toMatchObject({ title: 'Chess & Go Club', description: 'Tuesdays', changedAt: at(1) });
      await accept(groupUpdated(42, 'Chess & Go Club', { description: 'Wednesdays' }), at(2));
      expect((await store.group(42))?.description).toBe('Wednesdays');
    });

    it('og.group.deleted: deleted, keeping the last title and the members', async () => {
      await accept(groupCreated(42, 'Chess Club'), at(0));
      await accept(joined(42, member(bob)), at(0));
      await accept(groupDeleted(42), at(1));
      expect(await store.group(42)).toMatchObject({ title: 'Chess Club', deleted: true, changedAt: at(1), syncState: 'dirty' });
      expect(await store.members(42)).toMatchObject([{ uid: 8, state: 'active' }]);
    });

    it('og.group.deleted of a group never seen: a deleted group without a title', async () => {
      await accept(groupDeleted(77), at(0));
      const group = await store.group(77);
      expect(group).toMatchObject({ ogId: 77, deleted: true });
      expect(group).not.toHaveProperty('title');
    });

    it('og.group.created after a deletion brings the group back', async () => {
      await accept(groupDeleted(42), at(0));
      await accept(groupCreated(42, 'Back again'), at(1));
      expect(await store.group(42)).toMatchObject({ title: 'Back again', deleted: false });
    });

    it('og.membership.created and .updated: the state and admin flag; the user profile is remembered', async () => {
      await accept(joined(42, member(ann, 'pending')), at(0));
      expect(await memberOf(42, 7)).toMatchObject({ state: 'pending', isAdmin: false, changedAt: at(0), syncState: 'dirty' });
      await accept(changed(42, member({ id: 7 }, 'active', true)), at(1));
      expect(await memberOf(42, 7)).toMatchObject({ state: 'active', isAdmin: true, changedAt: at(1) });
      // A profile with only the id keeps what was known.
      expect(await userOf(store, 7)).toEqual(ann);
      await accept(changed(42, member({ id: 7, email: 'ann@new.example.org' }, 'blocked')), at(2));
      expect(await memberOf(42, 7)).toMatchObject({ state: 'blocked', isAdmin: false });
      expect(await userOf(store, 7)).toEqual({ ...ann, email: 'ann@new.example.org' });
    });

    it('og.membership.deleted: the state "deleted", not a missing row', async () => {
      await accept(joined(42, member(ann, 'active', true)), at(0));
      await accept(left(42, 7), at(1));
      expect(await store.members(42)).toMatchObject([{ uid: 7, state: 'deleted', isAdmin: false, changedAt: at(1) }]);
    });

    it('og.membership.deleted of a membership never seen is recorded as deleted', async () => {
      await accept(left(42, 99), at(0));
      expect(await store.members(42)).toMatchObject([{ uid: 99, state: 'deleted' }]);
    });

    it('og.group.snapshot: the group and every listed member, the owner as listed', async () => {
      await accept(snapshot(42, 'Chess Club', [member(bob, 'pending'), member(cyd, 'blocked'), member(ann, 'blocked')], ann), at(0));
      expect(await store.group(42)).toMatchObject({ title: 'Chess Club', deleted: false });
      expect(await store.group(42)).toMatchObject({ ownerUid: 7 });
      expect((await store.members(42)).map((m) => [m.uid, m.state, m.isAdmin])).toEqual([
        [7, 'blocked', false],
        [8, 'pending', false],
        [9, 'blocked', false],
      ]);
      expect(await userOf(store, 8)).toEqual(bob);
      expect(await userOf(store, 9)).toEqual(cyd);
    });
  });

  describe('ordering by event time', () => {
    it('an older membership change after a newer one is recorded but has no effect', async () => {
      await accept(joined(42, member(ann, 'active', true)), at(10));
      const old = await accept(changed(42, member(ann, 'blocked')), at(5));
      expect(await memberOf(42, 7)).toMatchObject({ state: 'active', isAdmin: true, changedAt: at(10) });
      const listed = await eventById(old);
      expect(listed.type).toBe('og.membership.updated');
      // It changed nothing, so there is nothing to wait for.
      expect(listed.status).toBe('done');
    });

    it('an older membership deletion does not remove a newer membership', async () => {
      await accept(joined(42, member(ann)), at(10));
      await accept(left(42, 7), at(9));
      expect(await memberOf(42, 7)).toMatchObject({ state: 'active' });
    });

    it('a change with the same timestamp is applied (the later delivery wins a tie)', async () => {
      await accept(joined(42, member(ann, 'active')), at(10));
      await accept(changed(42, member(ann, 'blocked')), at(10));
      expect(await memberOf(42, 7)).toMatchObject({ state: 'blocked' });
      await accept(groupCreated(42, 'One'), at(10));
      await accept(groupUpdated(42, 'Two'), at(10));
      expect((await store.group(42))?.title).toBe('Two');
    });

    it('an older group update after a newer one has no effect, the owner it names included', async () => {
      await accept(groupUpdated(42, 'New title'), at(10));
      await accept(groupUpdated(42, 'Old title', { owner: bob }), at(5));
      expect(await store.group(42)).toMatchObject({ title: 'New title', changedAt: at(10) });
      expect(await store.group(42)).not.toHaveProperty('ownerUid');
      expect(await memberOf(42, 8)).toBeUndefined();
    });

    it('a group deleted, then an older update: still deleted', async () => {
      await accept(groupCreated(42, 'Chess Club'), at(0));
      await accept(groupDeleted(42), at(10));
      await accept(groupUpdated(42, 'Renamed before the deletion'), at(5));
      expect(await store.group(42)).toMatchObject({ title: 'Chess Club', deleted: true, changedAt: at(10) });
    });

    it('an older deletion after a newer update: not deleted', async () => {
      await accept(groupUpdated(42, 'Alive'), at(10));
      await accept(groupDeleted(42), at(5));
      expect(await store.group(42)).toMatchObject({ title: 'Alive', deleted: false });
    });

    it('an older owner in a group event does not override a newer membership', async () => {
      await accept(changed(42, member(bob, 'blocked')), at(10));
      await accept(groupUpdated(42, 'T', { owner: bob }), at(5));
      expect(await memberOf(42, 8)).toMatchObject({ state: 'blocked', isAdmin: false });
    });
  });

  describe('snapshots', () => {
    it('delete the members they do not list, but not ones changed after the snapshot', async () => {
      await accept(joined(42, member(ann)), at(0));
      await accept(joined(42, member(bob)), at(0));
      await accept(joined(42, member(cyd)), at(20));
      await accept(joined(42, member({ id: 10 })), at(1));
      await accept(left(42, 10), at(2));

      const snap = await accept(snapshot(42, 'Chess Club', [member(ann, 'pending')]), at(10));

      expect((await store.members(42)).map((m) => [m.uid, m.state])).toEqual([
        [7, 'pending'], // listed
        [8, 'deleted'], // not listed, changed before the snapshot
        [9, 'active'], // not listed, but joined after the snapshot was taken
        [10, 'deleted'], // already gone
      ]);
      expect(await memberOf(42, 8)).toMatchObject({ changedAt: at(10), syncState: 'dirty' });
      // The deleted member is part of the snapshot's work; the one already gone is not.
      const snapEvent = await eventById(snap);
      expect(snapEvent.status).toBe('pending');
      await syncAll(42);
      expect(await statusOf(snap)).toBe('done');
    });

    it('a member listed in the snapshot but changed after it keeps the newer change', async () => {
      await accept(changed(42, member(ann, 'blocked')), at(20));
      await accept(snapshot(42, 'T', [member(ann, 'active', true)]), at(10));
      expect(await memberOf(42, 7)).toMatchObject({ state: 'blocked', isAdmin: false, changedAt: at(20) });
    });

    it('an empty snapshot deletes every member changed before it', async () => {
      await accept(joined(42, member(ann)), at(0));
      await accept(joined(42, member(bob, 'pending')), at(0));
      await accept(snapshot(42, 'T', []), at(1));
      expect((await store.members(42)).map((m) => m.state)).toEqual(['deleted', 'deleted']);
    });

    it('does not touch other groups', async () => {
      await accept(joined(43, member(ann)), at(0));
      await accept(snapshot(42, 'T', []), at(1));
      expect(await memberOf(43, 7)).toMatchObject({ state: 'active' });
    });
  });

  describe('placeholder groups', () => {
    it('a membership of an unseen group makes a dirty group without a title; a group event titles it', async () => {
      await accept(joined(42, member(ann)), at(100));
      const placeholder = await store.group(42);
      expect(placeholder).toMatchObject({ ogId: 42, deleted: false, syncState: 'dirty' });
      expect(placeholder).not.toHaveProperty('title');

      // A group event older than the membership still wins over the placeholder.
      await accept(groupUpdated(42, 'Chess Club'), at(1));
      expect(await store.group(42)).toMatchObject({ title: 'Chess Club', changedAt: at(1) });
    });

    it('a snapshot also titles a placeholder', async () => {
      await accept(joined(42, member(ann)), at(5));
      await accept(snapshot(42, 'From the snapshot', [member(ann)]), at(1));
      expect((await store.group(42))?.title).toBe('From the snapshot');
    });

    it('a membership of a known group leaves the group as it is', async () => {
      await accept(groupCreated(42, 'Chess Club'), at(0));
      await syncAll(42);
      await accept(joined(42, member(ann)), at(1));
      expect(await store.group(42)).toMatchObject({ title: 'Chess Club', syncState: 'clean' });
    });
  });

  describe('the group owner', () => {
    it("is recorded with the group, and a later owner's membership dated after the group event keeps it", async () => {
      // OG saves the owner's membership (no roles) before the node: it arrives first, dated later.
      await accept(joined(42, member(ann)), at(10));
      await syncAll(42);
      await accept(groupCreated(42, 'Chess Club', { owner: ann }), at(1));
      expect(await store.group(42)).toMatchObject({ title: 'Chess Club', ownerUid: 7 });
      // The membership row is newer and stays as it was, but its rights changed: it is synced again.
      expect(await memberOf(42, 7)).toMatchObject({ state: 'active', isAdmin: false, syncState: 'dirty' });
    });

    it("is not made an admin by a group event: once the group changes hands, the old owner's own membership stands", async () => {
      await accept(groupCreated(42, 'Chess Club', { owner: ann }), at(0));
      await accept(joined(42, member(ann)), at(1));
      await accept(groupUpdated(42, 'Chess Club', { owner: ann }), at(2));
      expect(await memberOf(42, 7)).toMatchObject({ state: 'active', isAdmin: false });
      await accept(groupUpdated(42, 'Chess Club', { owner: bob }), at(3));
      expect(await memberOf(42, 7)).toMatchObject({ state: 'active', isAdmin: false, syncState: 'dirty' });
      // The new owner had no membership: given the one OG makes for an owner, which their own
      // membership event, dated before the transfer or after, replaces.
      expect(await memberOf(42, 8)).toMatchObject({ state: 'active', isAdmin: false, syncState: 'dirty' });
      await accept(changed(42, member(bob, 'active', true)), at(1));
      expect(await memberOf(42, 8)).toMatchObject({ state: 'active', isAdmin: true });
    });

    it('moves to a new owner: both are synced again; an update without an owner keeps it', async () => {
      await accept(groupCreated(42, 'Chess Club', { owner: ann }), at(0));
      await accept(joined(42, member(bob)), at(1));
      await syncAll(42);
      await accept(groupUpdated(42, 'Chess Club', { owner: bob }), at(2));
      expect(await store.group(42)).toMatchObject({ ownerUid: 8 });
      expect(await memberOf(42, 7)).toMatchObject({ syncState: 'dirty' });
      expect(await memberOf(42, 8)).toMatchObject({ syncState: 'dirty' });
      await syncAll(42);
      await accept(groupUpdated(42, 'Renamed'), at(3));
      expect(await store.group(42)).toMatchObject({ title: 'Renamed', ownerUid: 8 });
      expect(await memberOf(42, 8)).toMatchObject({ syncState: 'clean' });
    });

    it('is cleared by a group said to have none: the old owner is synced again, as their membership says', async () => {
      await accept(groupCreated(42, 'Chess Club', { owner: ann }), at(0));
      await syncAll(42);
      await accept(groupUpdated(42, 'Chess Club', { owner: null }), at(1));
      expect(await store.group(42)).not.toHaveProperty('ownerUid');
      expect(await memberOf(42, 7)).toMatchObject({ state: 'active', isAdmin: false, syncState: 'dirty' });
      // An older event naming the owner does not bring them back.
      await accept(groupUpdated(42, 'Chess Club', { owner: ann }), at(0));
      expect(await store.group(42)).not.toHaveProperty('ownerUid');
    });
  });

  describe('operator listings', () => {
    it('lists groups after a cursor, by state and by a part of the title or the id; members likewise', async () => {
      await accept(groupCreated(41, 'Chess Club'), at(0));
      await accept(groupCreated(42, '100% Go_Club'), at(0));
      await accept(groupCreated(43, 'chess & go'), at(0));
      await accept(joined(41, member(ann)), at(1));
      await accept(joined(41, member(bob)), at(1));
      await syncAll(43);
      const ids = async (filter: Parameters<Store['listGroups']>[0]) => (await store.listGroups(filter)).map((g) => g.ogId);
      expect(await ids({ limit: 2 })).toEqual([41, 42]);
      expect(await ids({ limit: 2, after: 42 })).toEqual([43]);
      expect(await ids({ limit: 10, q: 'CHESS' })).toEqual([41, 43]);
      expect(await ids({ limit: 10, q: '100%' })).toEqual([42]);
      expect(await ids({ limit: 10, q: 'o_c' })).toEqual([42]);
      expect(await ids({ limit: 10, q: '43' })).toEqual([43]);
      expect(await ids({ limit: 10, state: 'clean' })).toEqual([43]);
      expect((await store.listMembers(41, { limit: 1 })).map((m) => m.uid)).toEqual([7]);
      expect((await store.listMembers(41, { limit: 10, after: 7, state: 'dirty' })).map((m) => m.uid)).toEqual([8]);
    });
  });

  describe('retention', () => {
    it('prunes settled events received before the cutoff, oldest first; keeps unsettled ones and the ledger', async () => {
      const old = Date.now() - 40 * 86_400_000;
      const at40 = (id: string, change: OgChange) => store.accept({ ...ogEvent(change, old, id), receivedAt: old });
      await at40('old-group', groupCreated(42, 'Chess Club'));
      await at40('old-member', joined(42, member(ann)));
      await at40('old-dead', joined(43, member(cyd)));
      await syncAll(42);
      await store.memberFailed(await asHolder(store, 43), 9, { error: 'no contact' });
      await accept(joined(42, member(bob)), Date.now(), 'new');

      expect(await store.pruneEvents(Date.now() - 30 * 86_400_000, 1)).toBe(1);
      expect(await store.pruneEvents(Date.now() - 30 * 86_400_000, 100)).toBe(1);
      expect(await store.pruneEvents(Date.now() - 30 * 86_400_000, 100)).toBe(0);
      expect((await store.listEvents({ limit: 10 })).map((e) => e.id)).toEqual(['new', 'old-dead']);
      expect(await store.group(42)).toMatchObject({ title: 'Chess Club' });
      expect(await memberOf(42, 7)).toMatchObject({ state: 'active' });
      // Accepted counts every event ever taken; the pruned ones were done.
      expect(await store.eventCounts()).toEqual({ accepted: 4, pending: 1, retrying: 0, dead: 1, done: 2 });
    });

    it('pages settled events back from a cursor, newest first', async () => {
      for (const id of ['e1', 'e2', 'e3', 'e4', 'e5']) await accept(groupUpdated(42, `Title ${id}`), at(Number(id[1])), id);
      await syncAll(42);
      await accept(joined(42, member(ann)), at(9), 'e6'); // unsettled
      const page1 = await store.listEvents({ status: 'done', limit: 2 });
      expect(page1.map((e) => e.id)).toEqual(['e5', 'e4']);
      expect((await store.listEvents({ status: 'done', limit: 2, before: 'e4' })).map((e) => e.id)).toEqual(['e3', 'e2']);
      expect((await store.listEvents({ status: 'done', limit: 2, before: 'e2' })).map((e) => e.id)).toEqual(['e1']);
      expect(await store.listEvents({ status: 'done', limit: 2, before: 'no-such-event' })).toEqual([]);
    });
  });

  describe('claimResync', () => {
    it('hands out the group re-observed longest ago, once per interval, never a deleted one', async () => {
      for (const id of [41, 42, 43]) await accept(groupCreated(id, `Group ${id}`), at(0));
      await accept(groupDeleted(43), at(1));
      const now = at(100);
      const day = 24 * 60 * 60_000;
      expect(await store.claimResync(now, now - day)).toBe(41);
      expect(await store.claimResync(now, now - day)).toBe(42);
      expect(await store.claimResync(now, now - day)).toBeUndefined();
      // A day later the oldest comes round again.
      expect(await store.claimResync(now + day + 1, now + 1)).toBe(41);
    });
  });

  describe('derived event status', () => {
    it('pending, then done after groupSynced and membersSynced with the dirtySeq', async () => {
      const id = await accept(groupCreated(42, 'Chess Club', { owner: ann }), at(0));
      expect(await statusOf(id)).toBe('pending');
      expect(await store.eventCounts()).toEqual({ accepted: 1, pending: 1, retrying: 0, dead: 0, done: 0 });

      const work = await store.loadWork(42, Date.now(), 100);
      expect(work?.members.map((m) => m.uid)).toEqual([7]);
      await store.groupSynced(await asHolder(store, 42), work!.group.dirtySeq, { ...CIVI, memberGroupId: 11, aclGroupId: 12 }, at(1));
      // The owner's membership is part of the event: still pending.
      expect(await statusOf(id)).toBe('pending');
      await store.membersSynced(await asHolder(store, 42), [{ uid: 7, dirtySeq: work!.members[0]!.dirtySeq, civiMemberStatus: 'Added', civiAclStatus: 'Added' }]);
      expect(await statusOf(id)).toBe('done');
      expect(await store.eventCounts()).toEqual({ accepted: 1, pending: 0, retrying: 0, dead: 0, done: 1 });

      expect(await store.group(42)).toMatchObject({ syncState: 'clean', civi: { memberGroupId: 11, aclGroupId: 12 }, syncedAt: at(1) });
      expect(await memberOf(42, 7)).toMatchObject({ syncState: 'clean', civiMemberStatus: 'Added', civiAclStatus: 'Added' });
      expect(await store.listEvents({ status: 'done', limit: 10 })).toHaveLength(1);
      expect(await store.listEvents({ status: 'pending', limit: 10 })).toHaveLength(0);
    });

    it('a group made anew: its new ids and the forgetting of its members\' known rows are one commit', async () => {
      const id = await accept(groupCreated(42, 'Chess Club', { owner: ann }), at(0));
      const work = (await store.loadWork(42, Date.now(), 100))!;
      const lease = await asHolder(store, 42);
      await store.groupSynced(lease, work.group.dirtySeq, { ...CIVI, memberGroupId: 11, aclGroupId: 12 }, at(1));
      await store.membersSynced(lease, [{ uid: 7, dirtySeq: work.members[0]!.dirtySeq, civiMemberStatus: 'Added', civiAclStatus: 'Added' }]);
      expect(await statusOf(id)).toBe('done');

      // The member group was deleted in CiviCRM and made again as 21.
      const again = (await store.loadWork(42, Date.now(), 100)) ?? { group: (await store.group(42))! };
      await store.groupSynced(await asHolder(store, 42), again.group.dirtySeq, { ...CIVI, memberGroupId: 21, aclGroupId: 12 }, at(2), { madeAnew: true });
      expect(await store.group(42)).toMatchObject({ syncState: 'clean', civi: { memberGroupId: 21 } });
      const member = await memberOf(42, 7);
      expect(member).toMatchObject({ syncState: 'dirty' });
      expect([member?.civiMemberStatus, member?.civiAclStatus]).toEqual([undefined, undefined]);
    });

    it('dead after memberFailed without retryAt, with the attempts and last error', async () => {
      const id = await accept(joined(42, member(cyd)), at(0));
      const work = await store.loadWork(42, Date.now(), 100);
      await store.groupSynced(await asHolder(store, 42), work!.group.dirtySeq, CIVI, Date.now());
      await store.memberFailed(await asHolder(store, 42), 9, { error: 'no CiviCRM contact for Drupal user 9 and no email to create one' });

      const event = await eventById(id);
      expect(event).toMatchObject({
        status: 'dead',
        attempts: 1,
        last_error: 'no CiviCRM contact for Drupal user 9 and no email to create one',
      });
      expect(await memberOf(42, 9)).toMatchObject({ syncState: 'dead', attempts: 1 });
      expect(await store.eventCounts()).toMatchObject({ accepted: 1, dead: 1, pending: 0, retrying: 0 });
      expect((await store.listEvents({ status: 'dead', limit: 10 })).map((e) => e.id)).toEqual([id]);
      expect(await store.workCounts()).toEqual({
        groups: { dirty: 0, dead: 0, total: 1 },
        members: { dirty: 0, dead: 1, total: 1 },
      });
    });

    it('a dead membership does not make its group or the group\'s other events dead', async () => {
      const good = await accept(joined(42, member(ann)), at(0));
      const bad = await accept(joined(42, member(cyd)), at(0));
      const work = await store.loadWork(42, Date.now(), 100);
      await store.groupSynced(await asHolder(store, 42), work!.group.dirtySeq, CIVI, Date.now());
      await store.membersSynced(await asHolder(store, 42), [{ uid: 7, dirtySeq: (await memberOf(42, 7))!.dirtySeq }]);
      await store.memberFailed(await asHolder(store, 42), 9, { error: 'no contact' });
      expect(await statusOf(good)).toBe('done');
      expect(await statusOf(bad)).toBe('dead');
      expect((await store.group(42))?.syncState).toBe('clean');
    });

    it('retrying after a failure with retryAt: counted as retrying, listed as pending', async () => {
      const id = await accept(joined(42, member(ann)), at(0));
      await store.memberFailed(await asHolder(store, 42), 7, { error: 'CiviCRM answered 502', retryAt: Date.now() + 60_000 });
      expect(await store.eventCounts()).toEqual({ accepted: 1, pending: 0, retrying: 1, dead: 0, done: 0 });
      expect(await eventById(id)).toMatchObject({ status: 'pending', attempts: 1, last_error: 'CiviCRM answered 502' });
      expect((await store.listEvents({ status: 'pending', limit: 10 })).map((e) => e.id)).toEqual([id]);
      expect(await memberOf(42, 7)).toMatchObject({ syncState: 'dirty', attempts: 1, lastError: 'CiviCRM answered 502' });

      await store.memberFailed(await asHolder(store, 42), 7, { error: 'CiviCRM answered 503', retryAt: Date.now() + 60_000 });
      expect(await eventById(id)).toMatchObject({ attempts: 2, last_error: 'CiviCRM answered 503' });
    });

    it('a group failure makes the group event retrying, then dead', async () => {
      const id = await accept(groupCreated(42, 'Chess Club'), at(0));
      await store.groupFailed(await asHolder(store, 42), { error: 'timeout', retryAt: Date.now() + 1000 });
      expect((await store.eventCounts()).retrying).toBe(1);
      await store.groupFailed(await asHolder(store, 42), { error: 'gave up: timeout' });
      expect(await eventById(id)).toMatchObject({ status: 'dead', attempts: 2, last_error: 'gave up: timeout' });
      expect(await store.group(42)).toMatchObject({ syncState: 'dead', attempts: 2, lastError: 'gave up: timeout' });
    });

    it('a success after a retry clears attempts and error', async () => {
      const id = await accept(joined(42, member(ann)), at(0));
      await store.memberFailed(await asHolder(store, 42), 7, { error: 'boom', retryAt: Date.now() - 1 });
      const m = await memberOf(42, 7);
      await store.membersSynced(await asHolder(store, 42), [{ uid: 7, dirtySeq: m!.dirtySeq }]);
      expect(await memberOf(42, 7)).toMatchObject({ syncState: 'clean', attempts: 0 });
      expect(await memberOf(42, 7)).not.toHaveProperty('lastError');
      expect(await statusOf(id)).toBe('done');
    });

    it('a newer event for a dead membership brings it back: both its events pending again', async () => {
      const old = await accept(joined(42, member(cyd)), at(0));
      await store.memberFailed(await asHolder(store, 42), 9, { error: 'no contact' });
      const fresh = await accept(changed(42, member({ id: 9, email: 'cyd@example.org' })), at(1));
      expect(await memberOf(42, 9)).toMatchObject({ syncState: 'dirty', attempts: 0 });
      expect(await statusOf(fresh)).toBe('pending');
      // The old event's item is no longer dead: it waits for the sync like the new one.
      expect(await statusOf(old)).toBe('pending');
    });
  });

  describe('a membership restated as it is (a re-save in Drupal)', () => {
    it('once synced, changes nothing: the event is done at once and the group has no work', async () => {
      await accept(joined(42, member(ann, 'active', true)), at(0));
      await syncAll(42);
      await store.saveContacts([{ uid: 7, contactId: 70, linked: true }]);
      const before = await memberOf(42, 7);
      const again = await accept(changed(42, member(ann, 'active', true)), at(2));
      expect(await statusOf(again)).toBe('done');
      expect(await memberOf(42, 7)).toMatchObject({ syncState: 'clean', dirtySeq: before!.dirtySeq });
      expect(await store.claimGroup('w1', Date.now(), 30_000)).toBeUndefined();
      // It still dates the membership: a change older than the restatement has no effect.
      const older = await accept(changed(42, member(ann, 'blocked')), at(1));
      expect(await memberOf(42, 7)).toMatchObject({ state: 'active', isAdmin: true, syncState: 'clean' });
      expect(await statusOf(older)).toBe('done');
    });

    it('in a snapshot, stays clean while the members it leaves out are deleted', async () => {
      await accept(joined(42, member(ann)), at(0));
      await accept(joined(42, member(bob)), at(0));
      await syncAll(42);
      await store.saveContacts([{ uid: 7, contactId: 70, linked: true }, { uid: 8, contactId: 80, linked: true }]);
      const before = await memberOf(42, 7);
      await accept(snapshot(42, 'Chess Club', [member(ann)]), at(1));
      expect(await memberOf(42, 7)).toMatchObject({ syncState: 'clean', dirtySeq: before!.dirtySeq });
      expect(await memberOf(42, 8)).toMatchObject({ state: 'deleted', syncState: 'dirty' });
      expect((await store.loadWork(42, Date.now(), 100))?.members.map((m) => m.uid)).toEqual([8]);
    });

    it('whose user has no known contact, is marked again: a removal that found none may find it now', async () => {
      await accept(joined(42, member(cyd, 'blocked')), at(0));
      await syncAll(42);
      const again = await accept(changed(42, member({ id: 9, email: 'cyd@example.org' }, 'blocked')), at(1));
      expect(await statusOf(again)).toBe('pending');
      expect(await memberOf(42, 9)).toMatchObject({ syncState: 'dirty' });
    });

    it('not yet synced, stays to work: both events wait for the sync', async () => {
      const first = await accept(joined(42, member(ann)), at(0));
      const again = await accept(changed(42, member(ann)), at(1));
      expect(await statusOf(first)).toBe('pending');
      expect(await statusOf(again)).toBe('pending');
      await syncAll(42);
      expect(await statusOf(again)).toBe('done');
    });

    it('with another admin flag or state, is a change like any other', async () => {
      await accept(joined(42, member(ann)), at(0));
      await syncAll(42);
      const admin = await accept(changed(42, member(ann, 'active', true)), at(1));
      expect(await statusOf(admin)).toBe('pending');
      expect(await memberOf(42, 7)).toMatchObject({ syncState: 'dirty', isAdmin: true });
      await syncAll(42);
      const blocked = await accept(changed(42, member(ann, 'blocked', true)), at(2));
      expect(await statusOf(blocked)).toBe('pending');
    });
  });

  describe('replay', () => {
    it('makes a dead event pending again and puts its items back to work', async () => {
      const id = await accept(joined(42, member(cyd)), at(0));
      await store.memberFailed(await asHolder(store, 42), 9, { error: 'no contact' });
      expect(await statusOf(id)).toBe('dead');

      expect(await store.replay(id)).toBe(true);
      expect(await eventById(id)).toMatchObject({ status: 'pending', attempts: 0, last_error: null });
      expect(await memberOf(42, 9)).toMatchObject({ syncState: 'dirty', attempts: 0 });
      expect((await store.claimGroup('w1', Date.now(), 30_000))?.ogId).toBe(42);
      const work = await store.loadWork(42, Date.now(), 100);
      expect(work?.members.map((m) => m.uid)).toEqual([9]);
    });

    it('puts a done event back too', async () => {
      const id = await accept(groupCreated(42, 'Chess Club'), at(0));
      await syncAll(42);
      expect(await statusOf(id)).toBe('done');
      expect(await store.replay(id)).toBe(true);
      expect(await statusOf(id)).toBe('pending');
      expect((await store.group(42))?.syncState).toBe('dirty');
      await syncAll(42);
      expect(await statusOf(id)).toBe('done');
    });

    it('returns false for an unknown id', async () => {
      expect(await store.replay('no-such-event')).toBe(false);
    });

    it('puts back only what the event wrote: a member it lists but that changed after it stays as it is', async () => {
      await accept(groupCreated(42, 'Chess Club'), at(0));
      await accept(groupDeleted(42), at(1));
      await accept(changed(42, member(bob, 'blocked')), at(5));
      // Brings the group back (its members are all to be synced again), listing Bob as of before his change.
      const id = await accept(snapshot(42, 'Back again', [member(bob)]), at(3));
      expect(await memberOf(42, 8)).toMatchObject({ state: 'blocked', syncState: 'dirty' });
      await syncAll(42);
      expect(await store.replay(id)).toBe(true);
      expect((await store.group(42))?.syncState).toBe('dirty');
      expect(await memberOf(42, 8)).toMatchObject({ state: 'blocked', syncState: 'clean' });
    });

    it('a sync that read the replay\'s dirtySeq leaves the item dirty when a newer event arrived meanwhile', async () => {
      await accept(joined(42, member(ann)), at(0));
      await store.membersSynced(await asHolder(store, 42), [{ uid: 7, dirtySeq: (await memberOf(42, 7))!.dirtySeq }]);
      const id = (await store.listEvents({ limit: 1 }))[0]!.id;
      await store.replay(id);

      const work = await store.loadWork(42, Date.now(), 100);
      const read = work!.members[0]!;
      // Meanwhile the member is blocked in Drupal.
      await accept(changed(42, member(ann, 'blocked')), at(1));
      await store.membersSynced(await asHolder(store, 42), [{ uid: 7, dirtySeq: read.dirtySeq }]);

      expect(await memberOf(42, 7)).toMatchObject({ state: 'blocked', syncState: 'dirty' });
      expect((await store.loadWork(42, Date.now(), 100))?.members.map((m) => m.uid)).toEqual([7]);
    });
  });

  describe('markForReconcile', () => {
    it('marks one group and its members dirty', async () => {
      await accept(snapshot(42, 'A', [member(ann), member(bob)]), at(0));
      await accept(snapshot(43, 'B', [member(cyd)]), at(0));
      await syncAll(42);
      await syncAll(43);
      expect(await store.workCounts()).toMatchObject({ groups: { dirty: 0 }, members: { dirty: 0 } });

      expect(await store.markForReconcile(42)).toBe(1);
      expect(await store.workCounts()).toMatchObject({ groups: { dirty: 1 }, members: { dirty: 2 } });
      expect(await store.markForReconcile(43)).toBe(1);
      expect(await store.workCounts()).toMatchObject({ groups: { dirty: 2 }, members: { dirty: 3 } });
      expect(await store.markForReconcile(99)).toBe(0);
    });

    it("with the rows a reconcile found: set and marked in one commit, under the reconcile's lease", async () => {
      await accept(snapshot(42, 'A', [member(ann), member(bob)]), at(0));
      await syncAll(42);
      const lease = await asHolder(store, 42);
      await store.setKnownStatuses(lease, [{ uid: 7, member: 'Removed' }, { uid: 8 }], { markForSync: true });
      expect(await store.group(42)).toMatchObject({ syncState: 'dirty' });
      expect(await memberOf(42, 7)).toMatchObject({ syncState: 'dirty', civiMemberStatus: 'Removed' });
      expect((await memberOf(42, 8))?.civiMemberStatus).toBeUndefined();
      // Under a lease taken since, neither is recorded.
      await syncAll(42);
      await asHolder(store, 42);
      await expect(store.setKnownStatuses(lease, [{ uid: 7, member: 'Added' }], { markForSync: true })).rejects.toBeInstanceOf(LeaseLost);
      expect(await store.workCounts()).toMatchObject({ groups: { dirty: 0 }, members: { dirty: 0 } });
    });

    it('a sync that read the reconcile mark\'s dirtySeq leaves the item dirty when a newer event arrived meanwhile', async () => {
      await accept(groupCreated(42, 'A'), at(0));
      await syncAll(42);
      await store.markForReconcile(42);
      const read = (await store.loadWork(42, Date.now(), 100))!.group.dirtySeq;
      await accept(groupUpdated(42, 'Renamed'), at(1));
      await store.groupSynced(await asHolder(store, 42), read, CIVI, Date.now());
      expect(await store.group(42)).toMatchObject({ title: 'Renamed', syncState: 'dirty' });
    });
  });

  describe('claimGroup leases', () => {
    const LEASE = 30_000;
    const claimed = async (owner: string, now = Date.now(), leaseMs = LEASE) => (await store.claimGroup(owner, now, leaseMs))?.ogId;

    it('claims a group with work; a second claim while leased gets another group, then nothing', async () => {
      await accept(groupCreated(1, 'One'), at(0));
      await accept(groupCreated(2, 'Two'), at(0));
      const now = Date.now();
      const first = await claimed('w1', now);
      const second = await claimed('w2', now);
      expect([first, second].sort()).toEqual([1, 2]);
      expect(await claimed('w3', now)).toBeUndefined();
    });

    it("runs out by the store's clock, not the caller's: a caller a minute ahead cannot take a lease that holds", async () => {
      await accept(groupCreated(1, 'One'), at(0));
      expect(await claimed('w1', Date.now(), 300)).toBe(1);
      expect(await claimed('w2', Date.now() + 60_000)).toBeUndefined();
      await new Promise((resolve) => setTimeout(resolve, 350));
      expect(await claimed('w2', Date.now() - 60_000)).toBe(1);
    });

    it('hands out a fencing token that grows with every claim of the group', async () => {
      await accept(groupCreated(1, 'One'), at(0));
      const first = (await store.claimGroup('w1', Date.now(), LEASE))!;
      await store.releaseGroup(first);
      const second = (await store.claimGroup('w2', Date.now(), LEASE))!;
      expect(second.token).toBeGreaterThan(first.token);
      await store.releaseGroup(second);
      const third = (await store.leaseGroup(1, 'audit', LEASE))!;
      expect(third.token).toBeGreaterThan(second.token);
    });

    it('refuses every result recorded under a lease the group was claimed again since, and changes nothing', async () => {
      await accept(groupCreated(1, 'One'), at(0));
      await accept(joined(1, member(ann)), at(0));
      const stale = (await store.claimGroup('w1', Date.now(), 100))!;
      await new Promise((resolve) => setTimeout(resolve, 150));
      const fresh = (await store.claimGroup('w2', Date.now(), LEASE))!;
      expect(fresh.ogId).toBe(1);
      const before = { group: await store.group(1), members: await store.members(1) };
      const work = (await store.loadWork(1, Date.now(), 10))!;
      const refusals = [
        () => store.groupSynced(stale, work.group.dirtySeq, { ...CIVI, memberGroupId: 9 }, Date.now()),
        () => store.groupFailed(stale, { error: 'x' }),
        () => store.membersSynced(stale, [{ uid: 7, dirtySeq: work.members[0]!.dirtySeq }]),
        () => store.memberFailed(stale, 7, { error: 'x' }),
        () => store.groupSynced(stale, work.group.dirtySeq, { ...CIVI, memberGroupId: 9 }, Date.now(), { madeAnew: true }),
        () => store.setKnownStatuses(stale, [{ uid: 7, member: 'Added' }]),
      ];
      for (const refused of refusals) await expect(refused()).rejects.toBeInstanceOf(LeaseLost);
      expect(await store.renewLease(stale, LEASE)).toBe(false);
      expect({ group: await store.group(1), members: await store.members(1) }).toEqual(before);
      // The stale holder's release does not free the group from its new holder.
      await store.releaseGroup(stale);
      expect(await claimed('w3')).toBeUndefined();
      expect(await store.renewLease(fresh, LEASE)).toBe(true);
      await store.groupSynced(fresh, work.group.dirtySeq, { ...CIVI, memberGroupId: 9 }, Date.now());
      expect((await store.group(1))?.civi).toEqual({ ...CIVI, memberGroupId: 9 });
    });

    it('a released group can be claimed again at once while it has work', async () => {
      await accept(groupCreated(1, 'One'), at(0));
      const lease = (await store.claimGroup('w1', Date.now(), LEASE))!;
      expect(await claimed('w2')).toBeUndefined();
      await store.releaseGroup(lease);
      expect(await claimed('w2')).toBe(1);
    });

    it('a clean group with no dirty member is not claimed', async () => {
      await accept(groupCreated(1, 'One', { owner: ann }), at(0));
      await syncAll(1);
      expect(await claimed('w1')).toBeUndefined();
    });

    it('a clean group with a dirty member is claimed', async () => {
      await accept(groupCreated(1, 'One'), at(0));
      await syncAll(1);
      await accept(joined(1, member(ann)), at(1));
      expect(await claimed('w1')).toBe(1);
    });

    it('a group in backoff is not claimed until next_attempt_at', async () => {
      await accept(groupCreated(1, 'One'), at(0));
      const now = Date.now();
      await store.groupFailed(await asHolder(store, 1), { error: 'CiviCRM down', retryAt: now + 60_000 });
      expect(await claimed('w1', now)).toBeUndefined();
      expect(await claimed('w1', now + 60_000)).toBe(1);
    });

    it('a member in backoff alone does not make its clean group claimable until it is due', async () => {
      await accept(groupCreated(1, 'One'), at(0));
      await syncAll(1);
      await accept(joined(1, member(ann)), at(1));
      const now = Date.now();
      await store.memberFailed(await asHolder(store, 1), 7, { error: 'timeout', retryAt: now + 60_000 });
      expect(await claimed('w1', now)).toBeUndefined();
      // The worker's look finds no work due either: a backoff is not a rest to wait for.
      expect(await store.claimWork('w1', now, LEASE, 100)).toBeUndefined();
      expect(await claimed('w1', now + 60_000)).toBe(1);
    });

    it('a dead group is not claimed; a new membership event revives it', async () => {
      await accept(groupCreated(1, 'One'), at(0));
      await store.groupFailed(await asHolder(store, 1), { error: 'permission denied' });
      expect((await store.group(1))?.syncState).toBe('dead');
      expect(await claimed('w1')).toBeUndefined();
      expect(await store.claimWork('w1', Date.now(), LEASE, 100)).toBeUndefined();

      await accept(joined(1, member(ann)), at(1));
      expect(await store.group(1)).toMatchObject({ syncState: 'dirty', attempts: 0 });
      expect(await claimed('w1')).toBe(1);
    });

    it('a dead group is revived by a newer group event too', async () => {
      await accept(groupCreated(1, 'One'), at(0));
      await store.groupFailed(await asHolder(store, 1), { error: 'permission denied' });
      await accept(groupUpdated(1, 'One, renamed'), at(1));
      expect(await claimed('w1')).toBe(1);
    });

    it('the least recently worked group goes first', async () => {
      await accept(groupCreated(1, 'One'), at(0));
      await accept(groupCreated(2, 'Two'), at(0));
      const first = (await store.claimGroup('w1', Date.now(), LEASE))!;
      await store.releaseGroup(first);
      expect(await claimed('w1')).not.toBe(first.ogId);
    });
  });

  describe('resting groups', () => {
    const LEASE = 60_000;

    it('a group released to rest is not claimed until the rest is over, and the claim says how long that is', async () => {
      await accept(groupCreated(1, 'One'), at(0));
      const lease = (await store.claimGroup('w1', Date.now(), LEASE))!;
      await store.releaseGroup(lease, 60_000);
      const resting = await store.claimWork('w2', Date.now(), LEASE, 100);
      expect(resting).toEqual({ restingMs: expect.any(Number) });
      expect((resting as { restingMs: number }).restingMs).toBeGreaterThan(50_000);
      expect((resting as { restingMs: number }).restingMs).toBeLessThanOrEqual(60_000);
    });

    it('a claim says when another group is due, so the worker wakes another lane then and only then', async () => {
      await accept(groupCreated(1, 'One'), at(0));
      await accept(groupCreated(2, 'Two'), at(0));
      await accept(groupCreated(3, 'Three'), at(0));
      const rested = (await store.leaseGroup(3, 'w0', LEASE))!;
      await store.releaseGroup(rested, 60_000);
      expect(await store.claimWork('w1', Date.now(), LEASE, 100)).toMatchObject({ lease: { ogId: 1 }, nextDueMs: 0 });
      // Group 3 has work, but rests: no second lane for it until its rest ends.
      const second = await store.claimWork('w2', Date.now(), LEASE, 100);
      expect(second).toMatchObject({ lease: { ogId: 2 }, nextDueMs: expect.any(Number) });
      expect((second as { nextDueMs: number }).nextDueMs).toBeGreaterThan(50_000);
      expect((second as { nextDueMs: number }).nextDueMs).toBeLessThanOrEqual(60_000);
    });

    it('a dirty group with dirty members is one group: its claim names no other work', async () => {
      await accept(groupCreated(1, 'One', { owner: ann }), at(0));
      await accept(joined(1, member(bob)), at(0));
      expect(await store.claimWork('w1', Date.now(), LEASE, 100)).toMatchObject({ lease: { ogId: 1 }, nextDueMs: undefined });
      expect(await store.claimWork('w2', Date.now(), LEASE, 100)).toBeUndefined();
    });

    it('lets an audit lease a resting group at once', async () => {
      await accept(groupCreated(1, 'One'), at(0));
      const lease = (await store.claimGroup('w1', Date.now(), LEASE))!;
      await store.releaseGroup(lease, 60_000);
      expect(await store.leaseGroup(1, 'audit', LEASE)).toMatchObject({ ogId: 1, token: lease.token + 1 });
    });

    it('a lane that loses a claim to another is told how long the resting group left waits, not to poll', async () => {
      await accept(groupCreated(1, 'One'), at(0));
      await accept(groupCreated(2, 'Two'), at(0));
      const rested = (await store.leaseGroup(1, 'w0', LEASE))!;
      await store.releaseGroup(rested, 60_000);
      const both = await Promise.all([store.claimWork('w1', Date.now(), LEASE, 100), store.claimWork('w2', Date.now(), LEASE, 100)]);
      const leases = both.filter((c) => c !== undefined && 'lease' in c);
      expect(leases.map((c) => c.lease.ogId)).toEqual([2]);
      expect(both.filter((c) => c !== undefined && 'restingMs' in c)).toHaveLength(1);
    });
  });

  describe('loadWork', () => {
    it('returns only the due dirty members, with their user profiles', async () => {
      await accept(groupCreated(42, 'Chess Club', { description: 'Tuesdays' }), at(0));
      await accept(joined(42, member(ann, 'active', true)), at(0)); // due
      await accept(joined(42, member(bob)), at(0)); // will be clean
      await accept(joined(42, member(cyd, 'pending')), at(0)); // will be in backoff
      await accept(joined(42, member({ id: 10, email: 'dee@example.org' })), at(0)); // will be dead
      await accept(left(42, 11), at(0)); // due, no profile
      await accept(joined(43, member({ id: 12 })), at(0)); // another group

      const now = Date.now();
      await store.membersSynced(await asHolder(store, 42), [{ uid: 8, dirtySeq: (await memberOf(42, 8))!.dirtySeq }]);
      await store.memberFailed(await asHolder(store, 42), 9, { error: 'timeout', retryAt: now + 60_000 });
      await store.memberFailed(await asHolder(store, 42), 10, { error: 'no contact' });

      const work = await store.loadWork(42, now, 100);
      expect(work?.group).toMatchObject({ ogId: 42, title: 'Chess Club', description: 'Tuesdays', syncState: 'dirty' });
      expect(work?.members.map((m) => [m.uid, m.state, m.isAdmin])).toEqual([
        [7, 'active', true],
        [11, 'deleted', false],
      ]);
      expect(work?.users).toEqual(
        new Map([
          [7, ann],
          [11, { id: 11 }],
        ]),
      );

      // Once the backoff is over, that member is due too.
      expect((await store.loadWork(42, now + 60_000, 100))?.members.map((m) => m.uid)).toEqual([7, 9, 11]);
    });

    it('honours the member limit, and is undefined for an unknown group', async () => {
      for (let uid = 1; uid <= 5; uid++) await accept(joined(42, member({ id: uid })), at(0));
      expect((await store.loadWork(42, Date.now(), 2))?.members.map((m) => m.uid)).toEqual([1, 2]);
      expect(await store.loadWork(99, Date.now(), 2)).toBeUndefined();
    });

    it('gives the contact id a user resolved to', async () => {
      await accept(joined(42, member(ann)), at(0));
      await store.saveContacts([{ uid: 7, contactId: 501 }]);
      expect((await store.loadWork(42, Date.now(), 10))?.users.get(7)).toEqual({ ...ann, contactId: 501 });
    });
  });

  describe('generation check', () => {
    it('a sync that read an older dirtySeq leaves the member dirty when a newer event arrived meanwhile', async () => {
      await accept(joined(42, member(ann)), at(0));
      const work = await store.loadWork(42, Date.now(), 100);
      const read = work!.members[0]!;
      const newer = await accept(changed(42, member(ann, 'blocked')), at(1));
      await store.membersSynced(await asHolder(store, 42), [{ uid: 7, dirtySeq: read.dirtySeq, civiMemberStatus: 'Added' }]);

      expect(await memberOf(42, 7)).toMatchObject({ state: 'blocked', syncState: 'dirty', civiMemberStatus: 'Added' });
      expect(await statusOf(newer)).toBe('pending');
      expect((await store.loadWork(42, Date.now(), 100))?.members.map((m) => m.uid)).toEqual([7]);

      // The next sync, of what it read now, finishes it.
      const again = (await store.loadWork(42, Date.now(), 100))!.members[0]!;
      await store.membersSynced(await asHolder(store, 42), [{ uid: 7, dirtySeq: again.dirtySeq, civiMemberStatus: 'Removed' }]);
      expect(await memberOf(42, 7)).toMatchObject({ syncState: 'clean', civiMemberStatus: 'Removed' });
      expect(await statusOf(newer)).toBe('done');
    });

    it('the same for a group', async () => {
      await accept(groupCreated(42, 'Old'), at(0));
      const read = (await store.loadWork(42, Date.now(), 100))!.group.dirtySeq;
      await accept(groupUpdated(42, 'New'), at(1));
      await store.groupSynced(await asHolder(store, 42), read, { ...CIVI, memberTitle: 'Old' }, Date.now());
      expect(await store.group(42)).toMatchObject({ title: 'New', syncState: 'dirty' });
      expect((await store.claimGroup('w', Date.now(), 1000))?.ogId).toBe(42);
    });
  });

  describe('saveContacts', () => {
    it('stores contact ids, for known users and for users not seen yet', async () => {
      await accept(joined(42, member(ann)), at(0));
      await store.saveContacts([
        { uid: 7, contactId: 501 },
        { uid: 55, contactId: 502 },
      ]);
      expect(await userOf(store, 7)).toEqual({ ...ann, contactId: 501 });
      expect(await userOf(store, 55)).toEqual({ id: 55, contactId: 502 });
      await store.saveContacts([{ uid: 7, contactId: 600 }]);
      expect((await userOf(store, 7))?.contactId).toBe(600);
    });

    it("a contact left behind takes the rows known for the user's memberships with it, in every group", async () => {
      await accept(joined(42, member(ann, 'active', true)), at(0));
      await accept(joined(43, member(ann)), at(0));
      await accept(joined(44, member(ann)), at(0));
      await accept(joined(43, member(bob)), at(0));
      await store.saveContacts([{ uid: 7, contactId: 501 }, { uid: 8, contactId: 801 }]);
      for (const ogId of [42, 43]) {
        const work = (await store.loadWork(ogId, Date.now(), 10))!;
        await store.membersSynced(
          await asHolder(store, ogId),
          work.members.map((m) => ({ uid: m.uid, dirtySeq: m.dirtySeq, civiMemberStatus: 'Added', civiAclStatus: m.isAdmin ? 'Added' : undefined })),
        );
      }
      // In 44 the membership is retrying, with its backoff, when the contact goes.
      const lease = await asHolder(store, 44);
      await store.memberFailed(lease, 7, { error: 'CiviCRM unreachable', retryAt: Date.now() + 60_000 });

      // Replaced by another (found by email after the user's changed, or a new link), or forgotten.
      await store.saveContacts([{ uid: 7, contactId: 502, linked: true }]);
      expect(await memberOf(43, 7)).toMatchObject({ syncState: 'dirty' });
      expect((await memberOf(43, 7))?.civiMemberStatus).toBeUndefined();
      await store.saveContacts([{ uid: 7, contactId: null }]);
      expect(await memberOf(42, 7)).toMatchObject({ syncState: 'dirty' });
      expect([(await memberOf(42, 7))?.civiMemberStatus, (await memberOf(42, 7))?.civiAclStatus]).toEqual([undefined, undefined]);
      expect(await memberOf(43, 7)).toMatchObject({ syncState: 'dirty' });
      expect((await memberOf(43, 7))?.civiMemberStatus).toBeUndefined();
      // Its backoff stands: a contact that keeps going must not bring retries at once.
      expect(await memberOf(44, 7)).toMatchObject({ syncState: 'dirty', attempts: 1, lastError: 'CiviCRM unreachable' });
      // Another user's rows, and a contact saved again as it was, change nothing.
      expect(await memberOf(43, 8)).toMatchObject({ syncState: 'clean', civiMemberStatus: 'Added' });
      await store.saveContacts([{ uid: 8, contactId: 801 }]);
      expect(await memberOf(43, 8)).toMatchObject({ syncState: 'clean', civiMemberStatus: 'Added' });
    });

    it('a later profile update keeps the contact id', async () => {
      await accept(joined(42, member(ann)), at(0));
      await store.saveContacts([{ uid: 7, contactId: 501 }]);
      await accept(changed(42, member({ ...ann, lastName: 'Lee-Smith' })), at(1));
      expect(await userOf(store, 7)).toEqual({ ...ann, lastName: 'Lee-Smith', contactId: 501 });
    });
  });

  describe('listEvents', () => {
    it('lists newest first, with a limit', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push(await accept(joined(42, member({ id: 100 + i })), at(i), `evt-${i}`));
      expect((await store.listEvents({ limit: 100 })).map((e) => e.id)).toEqual([...ids].reverse());
      expect((await store.listEvents({ limit: 3 })).map((e) => e.id)).toEqual(['evt-4', 'evt-3', 'evt-2']);
      expect((await store.listEvents({ limit: 1 })).map((e) => e.id)).toEqual(['evt-4']);
    });

    it('orders by arrival, not by event time', async () => {
      await accept(joined(42, member(ann)), at(10), 'late-news');
      await accept(joined(42, member(bob)), at(0), 'old-news');
      expect((await store.listEvents({ limit: 10 })).map((e) => e.id)).toEqual(['old-news', 'late-news']);
    });

    it('filters by status', async () => {
      await accept(joined(42, member(ann)), at(0), 'a');
      await accept(joined(43, member(bob)), at(0), 'b');
      await accept(joined(44, member(cyd)), at(0), 'c');
      await store.membersSynced(await asHolder(store, 42), [{ uid: 7, dirtySeq: (await memberOf(42, 7))!.dirtySeq }]);
      await store.memberFailed(await asHolder(store, 44), 9, { error: 'x' });
      expect((await store.listEvents({ status: 'done', limit: 10 })).map((e) => e.id)).toEqual(['a']);
      expect((await store.listEvents({ status: 'pending', limit: 10 })).map((e) => e.id)).toEqual(['b']);
      expect((await store.listEvents({ status: 'dead', limit: 10 })).map((e) => e.id)).toEqual(['c']);
    });
  });

  describe('checkWritable', () => {
    it('resolves on an open store and rejects on a closed one', async () => {
      await expect(store.checkWritable()).resolves.toBeUndefined();
      await store.close();
      await expect(store.checkWritable()).rejects.toThrow();
    });
  });
});
