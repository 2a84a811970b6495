// Native event bodies: one valid sample per type, and ways to break them.
import { EVENT_TYPES, type EventTypeName } from '../../src/events/schemas.js';
import { nativeBody } from './app.js';

export { EVENT_TYPES, type EventTypeName };

export const ANN = { id: 7, email: 'ann@example.org', first_name: 'Ann', last_name: 'Lee' };
export const BO = { id: 9, email: 'bo@example.net', first_name: 'Bo' };

/** The `data` of a valid event of each type, all about OG group 42. */
export const SAMPLE_DATA: Record<EventTypeName, Record<string, unknown>> = {
  'og.group.created': { group: { id: 42, title: 'Chess Club', description: 'Tuesdays at 7 pm', owner: ANN } },
  'og.group.updated': { group: { id: 42, title: 'Chess & Go Club' } },
  'og.group.deleted': { group: { id: 42 } },
  'og.membership.created': { group_id: 42, user: BO, state: 'pending', is_admin: false },
  'og.membership.updated': { group_id: 42, user: { id: 9 }, state: 'active', is_admin: true },
  'og.membership.deleted': { group_id: 42, user: { id: 9 } },
  'og.group.snapshot': {
    group: { id: 42, title: 'Chess Club' },
    members: [
      { user: ANN, state: 'active', is_admin: true },
      { user: BO, state: 'blocked', is_admin: false },
    ],
  },
};

type Json = any;

/** A valid native body of a type (a fresh copy), optionally with its data changed in place. */
export function sampleBody(type: EventTypeName, change?: (data: Json) => void, timestamp?: string) {
  const data = structuredClone(SAMPLE_DATA[type]);
  change?.(data);
  return nativeBody(type, data, timestamp);
}

export interface InvalidCase {
  name: string;
  body: unknown;
}

const mutate = (name: string, type: EventTypeName, change: (data: Json) => void): InvalidCase => ({
  name: `${type}: ${name}`,
  body: sampleBody(type, change),
});

/**
 * Bodies that match no event schema, whether or not a timestamp is required (so they are
 * refused by POST /webhooks/og and POST /admin/events alike). Send `JSON.stringify(body)`.
 */
export const INVALID_EVENTS: InvalidCase[] = [
  // ids: positive integers, or numeric strings of one
  mutate('group id 0', 'og.group.created', (d) => (d.group.id = 0)),
  mutate('group id -1', 'og.group.updated', (d) => (d.group.id = -1)),
  mutate('group id 1.5', 'og.group.deleted', (d) => (d.group.id = 1.5)),
  mutate('group id 2^53 (not exact)', 'og.group.created', (d) => (d.group.id = 2 ** 53)),
  mutate('group id "0"', 'og.group.created', (d) => (d.group.id = '0')),
  mutate('group id "042"', 'og.group.created', (d) => (d.group.id = '042')),
  mutate('group id "1.5"', 'og.group.deleted', (d) => (d.group.id = '1.5')),
  mutate('group id "abc"', 'og.group.deleted', (d) => (d.group.id = 'abc')),
  mutate('group id "99999999999999999999"', 'og.group.deleted', (d) => (d.group.id = '99999999999999999999')),
  mutate('group id null', 'og.group.deleted', (d) => (d.group.id = null)),
  mutate('group id true', 'og.group.deleted', (d) => (d.group.id = true)),
  mutate('missing group id', 'og.group.deleted', (d) => delete d.group.id),
  mutate('missing group', 'og.group.deleted', (d) => delete d.group),
  mutate('missing group_id', 'og.membership.created', (d) => delete d.group_id),
  mutate('group_id -1', 'og.membership.updated', (d) => (d.group_id = -1)),
  mutate('group_id 1.5', 'og.membership.deleted', (d) => (d.group_id = 1.5)),
  mutate('user id 0', 'og.membership.created', (d) => (d.user.id = 0)),
  mutate('user id "-7"', 'og.membership.updated', (d) => (d.user.id = '-7')),
  mutate('missing user id', 'og.membership.created', (d) => delete d.user.id),
  mutate('missing user', 'og.membership.deleted', (d) => delete d.user),
  mutate('user id 0', 'og.membership.deleted', (d) => (d.user.id = 0)),
  mutate('owner without id', 'og.group.created', (d) => delete d.group.owner.id),
  mutate('owner id 1.5', 'og.group.created', (d) => (d.group.owner.id = 1.5)),
  // states, flags, text
  mutate('blank title', 'og.group.created', (d) => (d.group.title = ' \t ')),
  mutate('snapshot with a blank title', 'og.group.snapshot', (d) => (d.group.title = '   ')),
  mutate('state "gone"', 'og.membership.created', (d) => (d.state = 'gone')),
  mutate('state "Active"', 'og.membership.updated', (d) => (d.state = 'Active')),
  mutate('missing state', 'og.membership.updated', (d) => delete d.state),
  mutate('is_admin "yes"', 'og.membership.created', (d) => (d.is_admin = 'yes')),
  mutate('is_admin 1', 'og.membership.updated', (d) => (d.is_admin = 1)),
  mutate('missing is_admin', 'og.membership.created', (d) => delete d.is_admin),
  mutate('empty title', 'og.group.created', (d) => (d.group.title = '')),
  mutate('missing title', 'og.group.updated', (d) => delete d.group.title),
  mutate('title of 1025 characters', 'og.group.updated', (d) => (d.group.title = 'x'.repeat(1025))),
  mutate('title a number', 'og.group.updated', (d) => (d.group.title = 42)),
  mutate('email a number', 'og.membership.created', (d) => (d.user.email = 7)),
  mutate('description null', 'og.group.created', (d) => (d.group.description = null)),
  // snapshots
  mutate('members an object', 'og.group.snapshot', (d) => (d.members = {})),
  mutate('missing members', 'og.group.snapshot', (d) => delete d.members),
  mutate('a member with state "gone"', 'og.group.snapshot', (d) => (d.members[1].state = 'gone')),
  mutate('a member without user', 'og.group.snapshot', (d) => delete d.members[0].user),
  mutate('a member id 0', 'og.group.snapshot', (d) => (d.members[0].user.id = 0)),
  mutate('group without title', 'og.group.snapshot', (d) => delete d.group.title),
  // the envelope
  { name: 'unknown type', body: { ...sampleBody('og.group.created'), type: 'og.group.exploded' } },
  { name: 'missing type', body: { timestamp: new Date().toISOString(), data: SAMPLE_DATA['og.group.created'] } },
  { name: 'missing data', body: { type: 'og.group.created', timestamp: new Date().toISOString() } },
  { name: 'data null', body: { ...sampleBody('og.group.created'), data: null } },
  { name: 'data of another type', body: { ...sampleBody('og.membership.created'), type: 'og.group.created' } },
  { name: 'timestamp not a date', body: sampleBody('og.group.created', undefined, 'yesterday') },
  { name: 'timestamp a number', body: { ...sampleBody('og.group.created'), timestamp: 1_732_442_400 } },
  { name: 'an array of a valid event', body: [sampleBody('og.group.created')] },
  { name: 'null', body: null },
  { name: 'a JSON string', body: 'og.group.created' },
  { name: 'a number', body: 42 },
  { name: 'an empty object', body: {} },
];
