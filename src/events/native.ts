// Validation of native event bodies and their translation into the normalized model.
import { Compile } from 'typebox/compile';
import type { TSchema } from 'typebox';
import { EVENT_TYPES, ManualEventVariants, ManualId, NativeEventVariants, type EventTypeName } from './schemas.js';
import { fitDescription, type OgChange, type OgGroup, type OgMember, type OgUser } from './model.js';

export type Parsed<T> = { ok: true; value: T } | { ok: false; detail: string };

export interface ParsedEvent {
  change: OgChange;
  /** Epoch ms of `timestamp`, absent when the body has none (manual events). */
  occurredAt?: number;
  /** The `id` of a manual event body. */
  id?: string;
}

type Validators = Record<EventTypeName, { Check(v: unknown): boolean; Errors(v: unknown): { instancePath: string; message: string }[] }>;

function compileAll(variants: Record<EventTypeName, TSchema>): Validators {
  return Object.fromEntries(Object.entries(variants).map(([type, schema]) => [type, Compile(schema)])) as unknown as Validators;
}

const nativeValidators = compileAll(NativeEventVariants);
const manualValidators = compileAll(ManualEventVariants);
const manualIdValidator = Compile(ManualId);

/** Validates a `POST /webhooks/og` body. */
export function parseNativeEvent(json: unknown): Parsed<ParsedEvent> {
  return parseWith(nativeValidators, json);
}

/** Validates a `POST /admin/events` body (timestamp and id optional). */
export function parseManualEvent(json: unknown): Parsed<ParsedEvent> {
  const parsed = parseWith(manualValidators, json);
  if (!parsed.ok) return parsed;
  if (!manualIdValidator.Check(json)) return { ok: false, detail: '/id: must be a non-empty string of at most 255 characters' };
  const id = (json as { id?: string }).id;
  return id === undefined ? parsed : { ok: true, value: { ...parsed.value, id } };
}

// Checked in two steps so that an error names the problem in the selected event type,
// not every branch of a union.
function parseWith(validators: Validators, json: unknown): Parsed<ParsedEvent> {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    return { ok: false, detail: 'the body must be a JSON object' };
  }
  const type = (json as { type?: unknown }).type;
  if (typeof type !== 'string' || !(EVENT_TYPES as string[]).includes(type)) {
    return { ok: false, detail: `/type: must be one of ${EVENT_TYPES.join(', ')}` };
  }
  const validator = validators[type as EventTypeName];
  if (!validator.Check(json)) {
    const first = validator.Errors(json)[0];
    return { ok: false, detail: first ? `${first.instancePath || '/'}: ${first.message}` : 'does not match the event schema' };
  }
  const body = json as NativeBody;
  let occurredAt: number | undefined;
  if (body.timestamp !== undefined) {
    occurredAt = Date.parse(body.timestamp);
    if (!Number.isFinite(occurredAt)) return { ok: false, detail: '/timestamp: not a valid date-time' };
  }
  return { ok: true, value: { change: toChange(body), occurredAt } };
}

type IdValue = number | string;
interface UserBody { id: IdValue; email?: string; first_name?: string; last_name?: string }
interface GroupBody { id: IdValue; title: string; description?: string; owner?: UserBody }
interface MemberBody { user: UserBody; state: OgMember['state']; is_admin: boolean }
type NativeBody = { timestamp?: string } & (
  | { type: 'og.group.created' | 'og.group.updated'; data: { group: GroupBody } }
  | { type: 'og.group.deleted'; data: { group: { id: IdValue } } }
  | { type: 'og.membership.created' | 'og.membership.updated'; data: { group_id: IdValue } & MemberBody }
  | { type: 'og.membership.deleted'; data: { group_id: IdValue; user: { id: IdValue } } }
  | { type: 'og.group.snapshot'; data: { group: GroupBody; members: MemberBody[] } }
);

const id = (value: IdValue): number => Number(value);

function toUser(user: UserBody): OgUser {
  const out: OgUser = { id: id(user.id) };
  const email = user.email?.trim();
  if (email) out.email = email;
  const firstName = user.first_name?.trim();
  if (firstName) out.firstName = firstName;
  const lastName = user.last_name?.trim();
  if (lastName) out.lastName = lastName;
  return out;
}

function toGroup(group: GroupBody): OgGroup {
  const out: OgGroup = { id: id(group.id), title: group.title };
  if (group.description !== undefined) out.description = fitDescription(group.description);
  if (group.owner) out.owner = toUser(group.owner);
  return out;
}

const toMember = (m: MemberBody): OgMember => ({ user: toUser(m.user), state: m.state, isAdmin: m.is_admin });

function toChange(body: NativeBody): OgChange {
  switch (body.type) {
    case 'og.group.created':
    case 'og.group.updated':
      return { type: body.type, group: toGroup(body.data.group) };
    case 'og.group.deleted':
      return { type: body.type, groupId: id(body.data.group.id) };
    case 'og.membership.created':
    case 'og.membership.updated':
      return { type: body.type, groupId: id(body.data.group_id), member: toMember(body.data) };
    case 'og.membership.deleted':
      return { type: body.type, groupId: id(body.data.group_id), userId: id(body.data.user.id) };
    case 'og.group.snapshot':
      return { type: body.type, group: toGroup(body.data.group), members: body.data.members.map(toMember) };
  }
}
