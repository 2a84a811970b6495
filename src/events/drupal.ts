// Translation of deliveries of Drupal's contrib `webhooks` module into the normalized model.
// Pure: no I/O. The module posts `{"event", "user", "entity"}` (`account` for `user` in
// 8.x-1.0-alpha6) where `user` (the acting account) and `entity` are Drupal's default
// serializer normalization: every field is a list of items,
// e.g. `"title": [{"value": "Chess Club"}]`.
import { htmlToText } from './html-text.js';
import { fitDescription, type MemberState, type OgChange, type OgGroup, type OgUser } from './model.js';

/**
 * `occurredAt`: the change's own time (a node's `changed`); without it the time of receipt dates
 * the change. `after`: the change came after this time (a deleted node's last edit): it is dated
 * by its receipt, or just after this time when Drupal's clock puts that later (dating.ts).
 */
export type DrupalTranslation =
  | { kind: 'event'; change: OgChange; occurredAt?: number; after?: number }
  | { kind: 'ignored'; reason: string }
  | { kind: 'invalid'; detail: string };

type Fields = Record<string, unknown>;
type Operation = 'create' | 'update' | 'delete';

// An entity this service handles, but malformed: thrown deep, answered as `invalid` at the top.
class Malformed extends Error {}

const MEMBER_STATES: readonly MemberState[] = ['active', 'pending', 'blocked'];

export function translateDrupalDelivery(
  eventHeader: string,
  body: unknown,
  groupBundles: ReadonlySet<string>,
): DrupalTranslation {
  if (!isObject(body)) return invalid('the body must be a JSON object');

  const event = resolveEvent(eventHeader, body.event);
  if (typeof event !== 'string') return event;

  const match = /^entity:([a-z0-9_]+):(create|update|delete)$/.exec(event);
  if (!match) return ignored(`event "${event}" is not an entity create, update or delete`);
  const entityType = match[1] ?? '';
  const op = match[2] as Operation;
  if (entityType !== 'node' && entityType !== 'og_membership') {
    return ignored(`entity type "${entityType}" is not synced`);
  }

  const entity = body.entity;
  if (!isObject(entity)) return invalid(`${event}: the body has no "entity" object`);
  // The acting account: `user` since the module's 8.x-1.0-alpha7, `account` in alpha6
  // (webhooks.module, hook_entity_insert/update/delete, at those tags).
  const acting = body.user ?? body.account;
  const actor = isObject(acting) ? acting : undefined;

  try {
    return entityType === 'node'
      ? translateNode(op, entity, actor, groupBundles)
      : translateMembership(op, entity, actor, groupBundles);
  } catch (err) {
    if (err instanceof Malformed) return invalid(`${event}: ${err.message}`);
    throw err;
  }
}

// The header is outside the HMAC, the body's `event` is signed: a header that disagrees with the
// signed body could turn a signed "create" into a "delete", so it is refused.
function resolveEvent(header: string, bodyEvent: unknown): string | DrupalTranslation {
  const fromHeader = header.trim();
  if (typeof bodyEvent !== 'string') {
    return fromHeader === '' ? invalid('no X-Drupal-Event header and no "event" in the body') : fromHeader;
  }
  if (fromHeader !== '' && fromHeader !== bodyEvent) {
    return invalid(`X-Drupal-Event "${fromHeader}" does not match the body's event "${bodyEvent}"`);
  }
  return bodyEvent;
}

// ---- nodes -------------------------------------------------------------------------------

function translateNode(
  op: Operation,
  node: Fields,
  actor: Fields | undefined,
  groupBundles: ReadonlySet<string>,
): DrupalTranslation {
  const bundle = stringProp(node, 'type', 'target_id');
  if (bundle === undefined && op !== 'delete') throw new Malformed('the node has no type (bundle)');
  // A delete payload may be partial: without a bundle there is no telling it was a group.
  if (bundle === undefined) return ignored('deleted node carries no bundle, so it cannot be an OG group');
  if (!groupBundles.has(bundle)) {
    return ignored(`node bundle "${bundle}" is not an OG group bundle (OG_GROUP_BUNDLES: ${[...groupBundles].join(', ')})`);
  }

  // A translation's save is an update that delivers that translation, as the hook is given it
  // (webhooks.module, webhooks_entity_update, 8.x-1.0-alpha8: `$serializer->normalize($entity)`):
  // its title, body and author are its own, and would rename the group until the next save in the
  // default language.
  if (op === 'update' && isFalse(prop(node, 'default_langcode', 'value'))) {
    const langcode = stringProp(node, 'langcode', 'value') ?? 'another';
    return ignored(`a save of the node's "${langcode}" translation: a group takes its title, description and owner from its default language`);
  }

  const id = requireId(node, 'nid', 'value');
  if (op === 'delete') {
    // A deleted node's `changed` dates its last edit, not the deletion: the deletion must outrank
    // that edit whatever Drupal's clock says, and a snapshot exported after the edit but before
    // the deletion must not bring the group back. Hence the later of the two.
    const change: OgChange = { type: 'og.group.deleted', groupId: id };
    const lastEdit = timestamp(node, 'changed');
    return lastEdit === undefined ? { kind: 'event', change } : { kind: 'event', change, after: lastEdit };
  }

  const change: OgChange = { type: op === 'create' ? 'og.group.created' : 'og.group.updated', group: toGroup(id, node, actor) };
  return withTime(change, timestamp(node, 'changed'));
}

function toGroup(id: number, node: Fields, actor: Fields | undefined): OgGroup {
  const title = stringProp(node, 'title', 'value')?.trim();
  if (!title) throw new Malformed('the node has no title');
  const group: OgGroup = { id, title };

  const body = stringProp(node, 'body', 'value');
  const description = body === undefined ? '' : fitDescription(htmlToText(body));
  if (description) group.description = description;

  // uid 0 is Drupal's anonymous user: nodes of a cancelled account are reassigned to it, and the
  // group has no owner any more (user_cancel's user_cancel_reassign, node_mass_update).
  const ownerId = optionalId(node, 'uid', 'target_id');
  if (ownerId !== undefined) group.owner = userWithActorDetails(ownerId, actor);
  else if (prop(node, 'uid', 'target_id') !== undefined) group.owner = null;
  return group;
}

// ---- OG memberships ----------------------------------------------------------------------

function translateMembership(
  op: Operation,
  membership: Fields,
  actor: Fields | undefined,
  groupBundles: ReadonlySet<string>,
): DrupalTranslation {
  const groupType = stringProp(membership, 'entity_type', 'value');
  if (groupType === undefined) throw new Malformed('the membership has no entity_type');
  if (groupType !== 'node') return ignored(`membership of a "${groupType}" group: only node groups are synced`);
  // Memberships of a bundle that is not synced would make groups whose node events are ignored.
  const bundle = stringProp(membership, 'entity_bundle', 'value');
  if (bundle !== undefined && !groupBundles.has(bundle)) {
    return ignored(`membership of node bundle "${bundle}", which is not an OG group bundle`);
  }

  // OG stores entity_id as a string field; accept a reference-style target_id as well.
  const groupId = item(membership, 'entity_id')?.value !== undefined
    ? requireId(membership, 'entity_id', 'value')
    : requireId(membership, 'entity_id', 'target_id');
  const userId = requireId(membership, 'uid', 'target_id');
  if (op === 'delete') return { kind: 'event', change: { type: 'og.membership.deleted', groupId, userId } };

  const change: OgChange = {
    type: op === 'create' ? 'og.membership.created' : 'og.membership.updated',
    groupId,
    member: { user: userWithActorDetails(userId, actor), state: memberState(membership), isAdmin: hasAdminRole(membership) },
  };
  // A membership has no `changed`. Its `created` would date only the creation, on Drupal's
  // clock, while updates and deletes go by receipt: one clock for all keeps their order.
  return { kind: 'event', change };
}

function memberState(membership: Fields): MemberState {
  const state = stringProp(membership, 'state', 'value');
  if (state === undefined || state === '') return 'active'; // OG's default state
  if (!(MEMBER_STATES as string[]).includes(state)) throw new Malformed(`unknown membership state "${state}"`);
  return state as MemberState;
}

// OG role ids are "<entity type>-<bundle>-<role name>"; the admin role is named "administrator".
function hasAdminRole(membership: Fields): boolean {
  return items(membership, 'roles').some((role) => typeof role.target_id === 'string' && role.target_id.endsWith('-administrator'));
}

// ---- users -------------------------------------------------------------------------------

// The membership and node carry only a uid. The acting account is normalized in full
// (a user may view their own mail), so when the actor is that user their details come along.
function userWithActorDetails(id: number, actor: Fields | undefined): OgUser {
  const user: OgUser = { id };
  if (!actor || toId(prop(actor, 'uid', 'value')) !== id) return user;
  const email = stringProp(actor, 'mail', 'value')?.trim();
  if (email && email.includes('@')) user.email = email;
  // Core has no person-name fields; these are the conventional names sites add.
  const firstName = stringProp(actor, 'field_first_name', 'value')?.trim();
  if (firstName) user.firstName = firstName;
  const lastName = stringProp(actor, 'field_last_name', 'value')?.trim();
  if (lastName) user.lastName = lastName;
  return user;
}

// ---- field access ------------------------------------------------------------------------

function items(entity: Fields, field: string): Fields[] {
  const value = entity[field];
  return Array.isArray(value) ? value.filter(isObject) : [];
}

const item = (entity: Fields, field: string): Fields | undefined => items(entity, field)[0];
const prop = (entity: Fields, field: string, key: string): unknown => item(entity, field)?.[key];

function stringProp(entity: Fields, field: string, key: string): string | undefined {
  const value = prop(entity, field, key);
  return typeof value === 'string' ? value : undefined;
}

// Drupal casts integer ids to numbers since 8.3; older sites (and OG's string `entity_id`) send strings.
function toId(value: unknown): number | undefined {
  const n = typeof value === 'string' && /^[1-9][0-9]*$/.test(value) ? Number(value) : value;
  return typeof n === 'number' && Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

function requireId(entity: Fields, field: string, key: string): number {
  const value = prop(entity, field, key);
  const id = toId(value);
  if (id === undefined) throw new Malformed(`${field}[0].${key} must be a positive integer, got ${shown(value)}`);
  return id;
}

/** An id that may be missing or 0 (anonymous), but not garbage. */
function optionalId(entity: Fields, field: string, key: string): number | undefined {
  const value = prop(entity, field, key);
  if (value === undefined || value === null || value === 0 || value === '0') return undefined;
  return requireId(entity, field, key);
}

// Drupal 8.5+ normalizes timestamps as RFC 3339 strings (with a `format` hint); older sites
// send Unix seconds as a number or numeric string.
function timestamp(entity: Fields, field: string): number | undefined {
  const value = prop(entity, field, 'value');
  if (value === undefined || value === null) return undefined;
  const ms = typeof value === 'number' || (typeof value === 'string' && /^[0-9]+$/.test(value))
    ? Number(value) * 1000
    : typeof value === 'string' ? Date.parse(value) : NaN;
  if (!Number.isFinite(ms) || ms <= 0) throw new Malformed(`${field}[0].value is not a time: ${shown(value)}`);
  return ms;
}

/**
 * A received value for an error detail: scalars as JSON, cut short; containers by kind only,
 * since serializing a hostile one (10,000 levels deep) would overflow the stack.
 */
function shown(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object' && value !== null) return 'an object';
  const text = JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}

function withTime(change: OgChange, occurredAt: number | undefined): DrupalTranslation {
  return occurredAt === undefined ? { kind: 'event', change } : { kind: 'event', change, occurredAt };
}

// ---- small helpers -----------------------------------------------------------------------

/** A boolean field's false: `false` since Drupal 8.3, `"0"` before (see toId). */
const isFalse = (value: unknown): boolean => value === false || value === 0 || value === '0';

function isObject(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const ignored = (reason: string): DrupalTranslation => ({ kind: 'ignored', reason });
const invalid = (detail: string): DrupalTranslation => ({ kind: 'invalid', detail });
