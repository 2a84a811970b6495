// Malformed and hostile deliveries, every one correctly signed so it passes the signature check
// and reaches validation. Each is generated so that it is known to be invalid (a valid sample with
// one thing broken), so the answer must be a 400 problem: never 5xx, never 202. Nothing may be
// stored, and Object.prototype must come out untouched. Random inputs come from a seeded PRNG.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { drupalFixture, testApp, type DrupalDelivery, type TestApp } from './support/app.js';
import { EVENT_TYPES, sampleBody } from './support/events.js';
import { expectAnswer, expectNothingStored, postDrupal, postNative, type Response } from './support/http.js';
import { Random } from './support/random.js';

type Json = any;
type Path = Array<string | number>;

interface Case {
  name: string;
  payload: string | Buffer;
  /** X-Drupal-Event of a Drupal case. */
  event?: string;
}

const SEED = 20_261_124;
const DEPTH = 10_000;
const PROTO_KEYS = ['__proto__', 'constructor', 'prototype'] as const;
const POLLUTION = { polluted: 'yes' };

// ---- building bodies ---------------------------------------------------------------------

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const getAt = (root: Json, path: Path): Json => path.reduce((node, key) => node[key], root);

/** A copy of root with the node at path replaced. */
function replaced(root: Json, path: Path, value: unknown): Json {
  if (path.length === 0) return value;
  const copy = structuredClone(root);
  getAt(copy, path.slice(0, -1))[path.at(-1)!] = value;
  return copy;
}

/** A copy of root without the node at path. */
function removed(root: Json, path: Path): Json {
  const copy = structuredClone(root);
  delete getAt(copy, path.slice(0, -1))[path.at(-1)!];
  return copy;
}

/** Every node of a JSON value with its path, the root first. */
function* nodes(value: Json, path: Path = []): Generator<[Path, Json]> {
  yield [path, value];
  if (Array.isArray(value)) for (const [i, item] of value.entries()) yield* nodes(item, [...path, i]);
  else if (isObject(value)) for (const [key, item] of Object.entries(value)) yield* nodes(item, [...path, key]);
}

/** An object whose own property is `key`, even for `__proto__` (as JSON.parse makes it). */
function own(key: string, value: unknown, rest: object = {}): object {
  return Object.defineProperty({ ...rest }, key, { value, enumerable: true, writable: true, configurable: true });
}

/** A copy of root with the pollution keys added to every object in it. */
function polluted(root: Json): Json {
  if (Array.isArray(root)) return root.map(polluted);
  if (!isObject(root)) return root;
  let out: object = Object.fromEntries(Object.entries(root).map(([k, v]) => [k, polluted(v)]));
  out = own('__proto__', POLLUTION, out);
  out = own('constructor', { prototype: POLLUTION }, out);
  return own('prototype', POLLUTION, out);
}

const MARK = 'ZZ_RAW_ZZ';

/** The JSON of root with the node at path replaced by raw JSON text or bytes. */
function withRaw(root: Json, path: Path, raw: string | Buffer): Buffer {
  const [head, tail, ...more] = JSON.stringify(replaced(root, path, MARK)).split(`"${MARK}"`);
  expect(more).toEqual([]);
  return Buffer.concat([Buffer.from(head!), Buffer.from(raw), Buffer.from(tail!)]);
}

const deepArray = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);
const deepObject = (depth: number) => '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);

const short = (value: unknown): string => {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 40)}…(${text.length})` : text;
};

// ---- values that are wrong wherever they are put -----------------------------------------

const LONG = 'x'.repeat(100_000);

/** Not a positive integer or a numeric string of one, in either route. */
const BAD_IDS: unknown[] = [
  null, true, false, 0, -1, 0.5, 1.5, 1e308, 2 ** 53, 2 ** 64, -(2 ** 64),
  '', '0', '-1', '1.5', '042', ' 42', '42 ', '42\n', '1e3', '0x2a', '４２', '٤٢', '𝟒𝟐',
  '99999999999999999999', '9007199254740993', [], [42], {}, { id: 42 }, { value: 42 }, LONG,
];
const BAD_TEXT: unknown[] = [null, 0, 1e308, true, [], {}, ['x'], { value: 'x' }];
const BAD_TITLES: unknown[] = [...BAD_TEXT, '', 'x'.repeat(1025), 'x'.repeat(500_000)];
const BAD_STATES: unknown[] = [
  null, 0, true, [], {}, ['active'], '', 'gone', 'deleted', 'ACTIVE', ' active', 'active ', 'activ\u0435', 'active\u200b',
  'active\u0000', '__proto__', 'constructor', 'toString', LONG,
];
const BAD_BOOLS: unknown[] = [null, 0, 1, '', 'true', 'false', [], {}, [true]];
const BAD_TYPES: unknown[] = [
  null, 0, true, [], {}, ['og.group.created'], '', 'og', 'og.group', 'og.group.*', 'OG.GROUP.CREATED', 'og.group.created ',
  ' og.group.created', 'og.group.creat\u0435d', 'og.group.created\u200b', 'og\uff0egroup\uff0ecreated',
  '__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', LONG,
];
const BAD_TIMESTAMPS: unknown[] = [null, 0, 1_732_442_400, true, [], {}, '', 'yesterday', 'not a date', LONG];
const badObjects = (node: unknown): unknown[] => [null, 0, 1e308, true, '', 'x', [], [node]];

// ---- native events -----------------------------------------------------------------------

const OPTIONAL_KEYS = new Set(['description', 'email', 'first_name', 'last_name', 'owner']);

/** Values that make a native body invalid at path. */
function badNativeValues(path: Path, node: unknown): unknown[] {
  const key = path.at(-1);
  if (path.length === 1 && key === 'type') return BAD_TYPES;
  if (path.length === 1 && key === 'timestamp') return BAD_TIMESTAMPS;
  switch (key) {
    case 'id':
    case 'group_id':
      return BAD_IDS;
    case 'title':
      return BAD_TITLES;
    case 'description':
    case 'email':
    case 'first_name':
    case 'last_name':
      return BAD_TEXT;
    case 'state':
      return BAD_STATES;
    case 'is_admin':
      return BAD_BOOLS;
    case 'members': {
      const member = (node as unknown[])[0];
      return [null, 0, 'members', {}, { 0: member, length: 1 }, [null], [0], ['x'], [[]], [[member]]];
    }
  }
  if (isObject(node)) return badObjects(node);
  throw new Error(`no bad values known for ${path.join('.')}`);
}

const samples = () => EVENT_TYPES.map((type) => ({ type, body: sampleBody(type) as Json }));
const fields = (body: Json) => [...nodes(body)].filter(([path]) => path.length > 0);
const json = (value: unknown) => JSON.stringify(value);

function nativeCases(random: Random): Record<string, Case[]> {
  const wrongValues: Case[] = [];
  const missing: Case[] = [];
  const deep: Case[] = [];
  const prototypeKeys: Case[] = [];
  const unicode: Case[] = [];
  const badUtf8: Case[] = [];

  for (const { type, body } of samples()) {
    for (const [path, node] of fields(body)) {
      const at = `${type} ${path.join('.')}`;
      for (const bad of badNativeValues(path, node)) wrongValues.push({ name: `${at} = ${short(bad)}`, payload: json(replaced(body, path, bad)) });
      if (typeof path.at(-1) === 'string' && !OPTIONAL_KEYS.has(path.at(-1) as string)) {
        missing.push({ name: `${at} missing`, payload: json(removed(body, path)) });
      }
      deep.push({ name: `${at} = [[[…]]] ×${DEPTH}`, payload: withRaw(body, path, deepArray(DEPTH)) });
      deep.push({ name: `${at} = {"a":{"a":…}} ×${DEPTH}`, payload: withRaw(body, path, deepObject(DEPTH)) });
    }

    // Required members moved under a prototype key: an object that looks complete only to code
    // that lets __proto__ set the prototype.
    for (const [path, node] of nodes(body)) {
      if (!isObject(node)) continue;
      for (const key of PROTO_KEYS) {
        prototypeKeys.push({ name: `${type} ${path.join('.') || '(root)'} wrapped in ${key}`, payload: json(replaced(body, path, own(key, node))) });
      }
    }
    // Pollution attempts at every level of bodies made invalid at their root and at their deepest id.
    const deepestId = fields(body).filter(([path]) => ['id', 'group_id'].includes(String(path.at(-1)))).at(-1)![0];
    prototypeKeys.push({ name: `${type} polluted, bad type`, payload: json(polluted({ ...body, type: 'og.group.exploded' })) });
    prototypeKeys.push({ name: `${type} polluted, ${deepestId.join('.')} = 0`, payload: json(polluted(replaced(body, deepestId, 0))) });

    // Numbers JSON does not have, or that are not positive integers, written at an id.
    for (const literal of ['NaN', 'Infinity', '-Infinity', '0x2a', '042', '+42', '.5', '42.', '1e999', '-1e999', '4_2', 'undefined', "'42'", '-0']) {
      unicode.push({ name: `${type} ${deepestId.join('.')} = ${literal}`, payload: withRaw(body, deepestId, literal) });
    }
    // Escapes and look-alikes in the type.
    for (const literal of ['"og.group.created\\ud800"', '"\\ud800"', '"\\udfff\\ud800"', '"og.group.created\\u0000"', '"\\u006fg.group.creat\\u0435d"']) {
      unicode.push({ name: `${type} type = ${literal}`, payload: withRaw(body, ['type'], literal) });
    }
    unicode.push({ name: `${type} with a look-alike "tуpe" key`, payload: json({ tуpe: type, timestamp: body.timestamp, data: body.data }) });

    // Bytes that are not UTF-8, inside a string a lenient decoder would accept.
    for (const [name, bytes] of INVALID_UTF8) {
      badUtf8.push({ name: `${type} note = "${name}"`, payload: withRaw({ ...body, note: MARK }, ['note'], Buffer.concat([Buffer.from('"'), bytes, Buffer.from('"')])) });
    }
  }

  const valid = json(sampleBody('og.group.created'));
  const structural: Case[] = [
    ...['', ' ', '\n', 'null', 'true', 'false', '0', '-1', '1e308', '"og.group.created"', '[]', '{}', '[[]]', '{"":""}'].map((payload) => ({ name: `body ${short(payload)}`, payload })),
    { name: 'a valid event in an array', payload: `[${valid}]` },
    { name: 'a valid event in data', payload: json({ data: JSON.parse(valid) }) },
    { name: 'a valid event as a JSON string', payload: json(valid) },
    { name: 'a valid event and a comma', payload: `${valid},` },
    { name: 'a valid event and a comment', payload: `${valid}/* */` },
    { name: 'a valid event and a NUL', payload: `${valid}\u0000` },
    { name: 'a valid event twice', payload: `${valid}${valid}` },
    { name: 'a string of almost 1 MiB', payload: json('x'.repeat(1024 * 1024 - 16)) },
    { name: 'a key of almost 1 MiB', payload: `{${json('k'.repeat(1024 * 1024 - 16))}:1}` },
    { name: 'an array of 100,000 nulls', payload: `[${Array(100_000).fill('null').join(',')}]` },
    { name: '500,000 unclosed brackets', payload: '['.repeat(500_000) },
    { name: `[[[…]]] ×${DEPTH}`, payload: deepArray(DEPTH) },
    { name: `{"a":{"a":…}} ×${DEPTH}`, payload: deepObject(DEPTH) },
    { name: `[[[…]]] ×${DEPTH * 10}`, payload: deepArray(DEPTH * 10) },
    ...INVALID_UTF8.map(([name, bytes]): Case => ({ name: `body "${name}"`, payload: bytes })),
    { name: 'UTF-16LE with BOM', payload: Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(valid, 'utf16le')]) },
    { name: 'UTF-16BE with BOM', payload: Buffer.concat([Buffer.from([0xfe, 0xff]), Buffer.from(valid, 'utf16le').swap16()]) },
    { name: 'a valid event and 0xff', payload: Buffer.concat([Buffer.from(valid), Buffer.from([0xff])]) },
    { name: 'a BOM and garbage', payload: Buffer.from('\ufeff{garbage') },
  ];

  return { wrongValues, missing, deep, prototypeKeys, unicode, badUtf8, structural, random: randomCases(random, NATIVE_TOKENS) };
}

/** Byte sequences that are not UTF-8. */
const INVALID_UTF8: Array<[string, Buffer]> = [
  ['\\xff', Buffer.from([0xff])],
  ['\\xfe\\xff', Buffer.from([0xfe, 0xff])],
  ['lone continuation byte', Buffer.from([0x80])],
  ['overlong NUL', Buffer.from([0xc0, 0x80])],
  ['overlong slash', Buffer.from([0xe0, 0x80, 0xaf])],
  ['UTF-16 surrogate', Buffer.from([0xed, 0xa0, 0x80])],
  ['above U+10FFFF', Buffer.from([0xf4, 0x90, 0x80, 0x80])],
  ['truncated 3-byte sequence', Buffer.from([0x43, 0xe2, 0x82])],
  ['truncated 4-byte sequence', Buffer.from([0xf0, 0x9f, 0x98])],
  ['Latin-1 é', Buffer.from([0x43, 0x61, 0x66, 0xe9])],
];

/** JSON tokens for random documents; without a timestamp no native event can be valid. */
const NATIVE_TOKENS = ['{', '}', '[', ']', ':', ',', '"type"', '"data"', '"group"', '"id"', '"og.group.created"', '"og.group.deleted"', '42', '0', '-1', 'null', 'true', '"x"', '"__proto__"', '"constructor"'];
/** Without an "entity" key no Drupal delivery can be valid. */
const DRUPAL_TOKENS = ['{', '}', '[', ']', ':', ',', '"event"', '"entity:node:create"', '"type"', '"nid"', '"value"', '"target_id"', '"group"', '42', 'null', 'true', '"__proto__"', '"constructor"'];

function randomCases(random: Random, tokens: string[]): Case[] {
  const cases: Case[] = [];
  for (let i = 0; i < 60; i++) cases.push({ name: `random bytes #${i}`, payload: random.bytes(random.int(1, 300)) });
  for (let i = 0; i < 40; i++) cases.push({ name: `random ASCII #${i}`, payload: random.ascii(random.int(1, 300)) });
  for (let i = 0; i < 60; i++) {
    const soup = Array.from({ length: random.int(1, 40) }, () => random.pick(tokens)).join('');
    cases.push({ name: `token soup #${i} ${short(soup)}`, payload: soup });
  }
  return cases;
}

// ---- Drupal deliveries -------------------------------------------------------------------

/** Every Drupal id is read by toId: the same wrong values apply. */
const BAD_DRUPAL_IDS = BAD_IDS;
const BAD_DRUPAL_TIMES: unknown[] = ['yesterday', '', 0, '0', -5, 1e308, true, {}, [], LONG];
const BAD_ITEM_LISTS: unknown[] = [null, 0, 'x', {}, [], [null], [{}], [[]], [{ value: null, target_id: null }]];

interface DrupalBase {
  name: string;
  delivery: DrupalDelivery;
  /** Paths, and the values that make the delivery invalid there. */
  fields: Array<[Path, unknown[]]>;
  /** Objects whose content, moved under a prototype key, makes the delivery invalid. */
  wrapped: Path[];
  /** Paths where any deeply nested value makes the delivery invalid. */
  deep: Path[];
}

function drupalBases(): DrupalBase[] {
  const node = drupalFixture('node-group-create');
  const nodeDelete = drupalFixture('node-group-delete');
  const membership = drupalFixture('og-membership-create');
  const membershipDelete = drupalFixture('og-membership-delete');
  const entityFields = (entity: unknown): unknown[] => [null, 0, true, '', 'x', [], [entity]];
  return [
    {
      name: 'group node create',
      delivery: node,
      fields: [
        [['entity'], entityFields(node.entity)],
        [['entity', 'type'], [...BAD_ITEM_LISTS, 'group', { target_id: 'group' }, [{ target_id: 5 }], [{ target_id: ['group'] }], [{ value: 'group' }], [['group']]]],
        [['entity', 'nid'], [...BAD_ITEM_LISTS, [[42]], { value: 42 }]],
        [['entity', 'nid', 0, 'value'], BAD_DRUPAL_IDS],
        [['entity', 'title'], [...BAD_ITEM_LISTS, 'Chess', [['Chess']]]],
        [['entity', 'title', 0, 'value'], [null, 42, true, [], {}, ['Chess'], '', '   ', '\t\n', '\u00a0']],
        // uid 0, '0' and null mean the anonymous owner: valid, so not here.
        [['entity', 'uid', 0, 'target_id'], BAD_DRUPAL_IDS.filter((v) => v !== null && v !== 0 && v !== '0')],
        [['entity', 'changed', 0, 'value'], BAD_DRUPAL_TIMES],
      ],
      wrapped: [[], ['entity'], ['entity', 'type', 0], ['entity', 'nid', 0], ['entity', 'title', 0]],
      deep: [['entity'], ['entity', 'type'], ['entity', 'nid'], ['entity', 'nid', 0, 'value'], ['entity', 'title'], ['entity', 'title', 0, 'value'], ['entity', 'uid', 0, 'target_id'], ['entity', 'changed', 0, 'value']],
    },
    {
      name: 'group node delete',
      delivery: nodeDelete,
      fields: [
        [['entity'], entityFields(nodeDelete.entity)],
        [['entity', 'nid'], BAD_ITEM_LISTS],
        [['entity', 'nid', 0, 'value'], BAD_DRUPAL_IDS],
      ],
      // Not the entity: a deleted node without a bundle is ignored, as it may be partial.
      wrapped: [[], ['entity', 'nid', 0]],
      deep: [['entity', 'nid', 0, 'value']],
    },
    {
      name: 'membership create',
      delivery: membership,
      fields: [
        [['entity'], entityFields(membership.entity)],
        [['entity', 'entity_type'], [...BAD_ITEM_LISTS, 'node', { value: 'node' }, [{ value: 42 }], [{ target_id: 'node' }]]],
        [['entity', 'entity_id'], BAD_ITEM_LISTS],
        [['entity', 'entity_id', 0, 'value'], BAD_DRUPAL_IDS],
        [['entity', 'uid'], BAD_ITEM_LISTS],
        [['entity', 'uid', 0, 'target_id'], BAD_DRUPAL_IDS],
        // A state that is not a string is OG's default (active): only wrong strings are invalid.
        [['entity', 'state', 0, 'value'], ['gone', 'deleted', 'Active', ' active', 'active ', 'activ\u0435', '__proto__', 'constructor', 'toString', LONG]],
      ],
      wrapped: [[], ['entity'], ['entity', 'entity_type', 0], ['entity', 'entity_id', 0], ['entity', 'uid', 0]],
      deep: [['entity'], ['entity', 'entity_type', 0, 'value'], ['entity', 'entity_id', 0, 'value'], ['entity', 'uid', 0, 'target_id']],
    },
    {
      name: 'membership delete',
      delivery: membershipDelete,
      fields: [
        [['entity', 'entity_id', 0, 'value'], BAD_DRUPAL_IDS],
        [['entity', 'uid', 0, 'target_id'], BAD_DRUPAL_IDS],
      ],
      wrapped: [[], ['entity'], ['entity', 'entity_id', 0], ['entity', 'uid', 0]],
      deep: [['entity', 'uid', 0, 'target_id']],
    },
  ];
}

function drupalCases(random: Random): Record<string, Case[]> {
  const wrongValues: Case[] = [];
  const deep: Case[] = [];
  const prototypeKeys: Case[] = [];
  const badUtf8: Case[] = [];

  for (const { name, delivery, fields, wrapped, deep: deepPaths } of drupalBases()) {
    const event = delivery.event;
    for (const [path, values] of fields) {
      for (const bad of values) wrongValues.push({ name: `${name} ${path.join('.')} = ${short(bad)}`, event, payload: json(replaced(delivery, path, bad)) });
    }
    for (const path of deepPaths) {
      deep.push({ name: `${name} ${path.join('.')} = [[[…]]] ×${DEPTH}`, event, payload: withRaw(delivery, path, deepArray(DEPTH)) });
      deep.push({ name: `${name} ${path.join('.')} = {"a":{"a":…}} ×${DEPTH}`, event, payload: withRaw(delivery, path, deepObject(DEPTH)) });
    }
    for (const key of PROTO_KEYS) {
      for (const path of wrapped) {
        prototypeKeys.push({ name: `${name} ${path.join('.') || '(root)'} wrapped in ${key}`, event, payload: json(replaced(delivery, path, own(key, getAt(delivery, path)))) });
      }
    }
    const idPath = fields.find(([path]) => ['nid', 'entity_id'].includes(String(path[1])) && path.length === 4)![0];
    prototypeKeys.push({ name: `${name} polluted, ${idPath.join('.')} = 0`, event, payload: json(polluted(replaced(delivery, idPath, 0))) });
    prototypeKeys.push({ name: `${name} polluted, no entity`, event, payload: json(polluted({ ...delivery, entity: undefined })) });

    for (const [bytesName, bytes] of INVALID_UTF8) {
      badUtf8.push({
        name: `${name} note = "${bytesName}"`,
        event,
        payload: withRaw({ ...delivery, note: MARK }, ['note'], Buffer.concat([Buffer.from('"'), bytes, Buffer.from('"')])),
      });
    }
  }

  const node = drupalFixture('node-group-create');
  const event = node.event;
  const structural: Case[] = [
    ...['', ' ', 'null', 'true', '0', '"entity:node:create"', '[]', '{}', '[[]]'].map((payload): Case => ({ name: `body ${short(payload)}`, event, payload })),
    { name: 'a valid delivery in an array', event, payload: `[${json(node)}]` },
    { name: 'a valid delivery and a comma', event, payload: `${json(node)},` },
    { name: 'the entity at the top', event, payload: json(node.entity) },
    { name: 'X-Drupal-Event contradicting the body', event: 'entity:node:delete', payload: json(node) },
    { name: `[[[…]]] ×${DEPTH}`, event, payload: deepArray(DEPTH) },
    { name: `{"a":{"a":…}} ×${DEPTH}`, event, payload: deepObject(DEPTH) },
    { name: 'a string of almost 1 MiB', event, payload: json('x'.repeat(1024 * 1024 - 16)) },
    ...INVALID_UTF8.map(([name, bytes]): Case => ({ name: `body "${name}"`, event, payload: bytes })),
    { name: 'UTF-16LE with BOM', event, payload: Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(json(node), 'utf16le')]) },
  ];

  return {
    wrongValues,
    deep,
    prototypeKeys,
    badUtf8,
    structural,
    random: randomCases(random, DRUPAL_TOKENS).map((c) => ({ ...c, event })),
  };
}

/** Event names of no use to the service: a signed one is ignored (202) or refused (400), never stored. */
const HOSTILE_EVENT_NAMES = [
  'entity:__proto__:create', 'entity:constructor:update', 'entity:prototype:delete', 'entity:node:__proto__',
  'entity:node:constructor', '__proto__', 'constructor', 'toString', 'entity:node:create:extra', 'ENTITY:NODE:CREATE',
  'entity::create', 'entity:node:', 'entity:node:create ', 'x'.repeat(1000),
];

// ---- running -----------------------------------------------------------------------------

const isProblem = (res: Response, status: number) =>
  res.statusCode === status && /^application\/problem\+json\b/.test(String(res.headers['content-type'])) && res.json().status === status;

/** Sends every case; returns those answered otherwise than `ok` allows, for one readable failure. */
async function misanswered(cases: Case[], send: (c: Case) => Promise<Response>, ok: (res: Response) => boolean) {
  const wrong: Array<{ case: string; status: number; body: string }> = [];
  for (const c of cases) {
    const res = await send(c);
    if (!ok(res)) wrong.push({ case: c.name, status: res.statusCode, body: res.body.slice(0, 300) });
  }
  return wrong;
}

const prototypeState = () => ({
  object: Object.getOwnPropertyNames(Object.prototype).sort(),
  array: Object.getOwnPropertyNames(Array.prototype).sort(),
  function: Object.getOwnPropertyNames(Function.prototype).sort(),
});

const random = new Random(SEED);
const NATIVE = nativeCases(random);
const DRUPAL = drupalCases(random);

let app: TestApp;
const before = prototypeState();
beforeAll(async () => {
  app = await testApp();
});
afterAll(async () => {
  await app?.close();
});

describe('the samples the cases are made from', () => {
  it('are valid as they are, so each case is invalid by its one change', async () => {
    const check = await testApp();
    try {
      for (const type of EVENT_TYPES) expectAnswer(await postNative(check, sampleBody(type)), 'accepted');
      for (const { delivery } of drupalBases()) expectAnswer(await postDrupal(check, delivery.event, delivery), 'accepted');
    } finally {
      await check.close();
    }
  });

  it(`are a few hundred per route (seed ${SEED})`, () => {
    const count = (cases: Record<string, Case[]>) => Object.values(cases).reduce((n, list) => n + list.length, 0);
    expect(count(NATIVE)).toBeGreaterThan(500);
    expect(count(DRUPAL)).toBeGreaterThan(300);
  });
});

describe('POST /webhooks/og answers 400 to every signed invalid body', () => {
  it.each(Object.keys(NATIVE))('%s', async (category) => {
    const wrong = await misanswered(NATIVE[category]!, (c) => postNative(app, c.payload), (res) => isProblem(res, 400));
    expect(wrong, `seed ${SEED}`).toEqual([]);
    await expectNothingStored(app);
  });
});

describe('POST /webhooks/drupal answers 400 to every signed invalid delivery', () => {
  it.each(Object.keys(DRUPAL))('%s', async (category) => {
    const wrong = await misanswered(DRUPAL[category]!, (c) => postDrupal(app, c.event!, c.payload), (res) => isProblem(res, 400));
    expect(wrong, `seed ${SEED}`).toEqual([]);
    await expectNothingStored(app);
  });

  it('ignores or refuses hostile event names, and stores nothing', async () => {
    const cases = HOSTILE_EVENT_NAMES.map((event): Case => ({ name: event, event, payload: json({ ...drupalFixture('node-group-create'), event }) }));
    const ignoredOrRefused = (res: Response) => (res.statusCode === 202 && res.json().status === 'ignored') || isProblem(res, 400);
    const wrong = await misanswered(cases, (c) => postDrupal(app, c.event!, c.payload), ignoredOrRefused);
    expect(wrong).toEqual([]);
    await expectNothingStored(app);
  });
});

describe('afterwards', () => {
  it('the store holds nothing', async () => {
    expect(await app.store.eventCounts()).toMatchObject({ accepted: 0 });
    await expectNothingStored(app);
  });

  it('no prototype is polluted', () => {
    expect(prototypeState()).toEqual(before);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(([] as unknown as Record<string, unknown>).polluted).toBeUndefined();
  });
});
