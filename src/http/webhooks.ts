// POST /webhooks/og and POST /webhooks/drupal: verify the signature over the raw body, then
// validate, translate to the normalized event, hand it to the intake.
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyError, FastifyPluginAsync, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import type { WebhookSecret } from '../config.js';
import { receivedEvent } from '../events/dating.js';
import { translateDrupalDelivery } from '../events/drupal.js';
import type { EventSource } from '../events/model.js';
import { parseNativeEvent } from '../events/native.js';
import type { Metrics } from '../metrics.js';
import type { Intake } from './intake.js';
import { keepRawJsonBodies, parseJson, rawBody } from './json-body.js';
import { documentedBody } from './openapi.js';
import { problemResponses } from './problem-types.js';
import { HttpProblem, toProblem } from './problems.js';
import { Accepted, jsonAnswer } from './schemas.js';
import { hubVerifier, nativeVerifier, type HubAlgorithm } from './signatures.js';

export interface WebhookOptions {
  secrets: WebhookSecret[];
  groupBundles: string[];
  drupalSignatures: HubAlgorithm[];
  intake: Intake;
  metrics: Metrics;
}

const DeliveryId = (description: string) =>
  Type.String({ minLength: 1, maxLength: 255, pattern: '^[\\x21-\\x7e]+$', description: `${description} (1 to 255 printable ASCII characters)` });

const NativeHeaders = Type.Object({
  'webhook-id': DeliveryId('The event id; also the idempotency key'),
  'webhook-timestamp': Type.String({
    pattern: '^[0-9]{1,12}$',
    description: 'Unix seconds when the delivery was signed; more than 5 minutes off either way is refused.',
  }),
  'webhook-signature': Type.String({
    description:
      '`v1,<base64 HMAC-SHA256 of "<webhook-id>.<webhook-timestamp>.<raw body>">`, keyed with a WEBHOOK_SECRETS secret ' +
      '(a `whsec_` secret: its base64-decoded bytes; any other: its UTF-8 bytes). Several space-separated signatures are allowed.',
  }),
});

// Header names are lower case: Fastify compares them so, and HTTP does not mind.
const DrupalHeaders = Type.Object({
  'x-drupal-event': Type.Optional(
    Type.String({ description: "The event, e.g. `entity:node:create`. Defaults to the body's `event`; when both are given they must agree." }),
  ),
  'x-drupal-delivery': DeliveryId('The delivery id; also the idempotency key'),
  'x-hub-signature-256': Type.Optional(
    Type.String({
      description:
        '`sha256=<hex HMAC-SHA256 of the raw body>`, keyed with the UTF-8 bytes of a WEBHOOK_SECRETS secret (a plain shared ' +
        'secret); sent by module 3.x. When present it alone decides. This header or X-Hub-Signature is required.',
    }),
  ),
  'x-hub-signature': Type.Optional(
    Type.String({
      description:
        '`sha1=<hex HMAC-SHA1 of the raw body>`, the only signature of module 8.x-1.x. Used when X-Hub-Signature-256 is ' +
        'absent and DRUPAL_SIGNATURES allows sha1 (the default).',
    }),
  ),
});

const EXAMPLE_EVENT = {
  type: 'og.membership.created',
  timestamp: '2026-11-24T10:00:00Z',
  data: { group_id: 42, user: { id: 7, email: 'ann@example.org', first_name: 'Ann', last_name: 'Lee' }, state: 'active', is_admin: false },
};

const EXAMPLE_DRUPAL = {
  event: 'entity:node:create',
  user: { uid: [{ value: 7 }], mail: [{ value: 'ann@example.org' }] },
  entity: {
    nid: [{ value: 42 }],
    type: [{ target_id: 'group' }],
    title: [{ value: 'Chess Club' }],
    uid: [{ target_id: 7 }],
    changed: [{ value: '2026-11-24T10:00:00+00:00', format: 'Y-m-d\\TH:i:sP' }],
  },
};

const answers = {
  202: jsonAnswer(Accepted, 'Taken: stored durably (`accepted`), seen before (`duplicate`), or of no use to the service (`ignored`).'),
  ...problemResponses(
    'invalid-json',
    'invalid-event',
    'missing-delivery-id',
    'invalid-delivery-id',
    'invalid-content-length',
    'bad-signature',
    'body-too-large',
    'unsupported-media-type',
    'overloaded',
    'store-unavailable',
  ),
};

export const webhookRoutes: FastifyPluginAsync<WebhookOptions> = async (plain, options) => {
  const app = plain.withTypeProvider<TypeBoxTypeProvider>();
  const { intake, metrics } = options;
  const verifyNative = nativeVerifier(options.secrets);
  const verifyHub = hubVerifier(options.secrets, options.drupalSignatures);
  const bundles = new Set(options.groupBundles);

  // Signatures are computed over the exact bytes received, so the body stays a Buffer here.
  keepRawJsonBodies(app);

  // Counts every rejection by reason, whichever check produced it.
  app.addHook('onError', async (request, _reply, error) => {
    metrics.events.inc({ source: sourceOf(request), outcome: 'rejected', reason: toProblem(error).reason });
  });

  app.post(
    '/webhooks/og',
    {
      schema: {
        tags: ['webhooks'],
        operationId: 'postNativeEvent',
        summary: 'Receive a native event (Standard Webhooks)',
        description:
          'A native event signed per Standard Webhooks. It is verified over the raw body, validated, and stored durably ' +
          'before the 202 is sent; it is applied even if the process dies right after. Nothing is stored for any other answer.',
        security: [],
        headers: NativeHeaders,
        ...documentedBody('NativeEvent', { membership: EXAMPLE_EVENT }),
        response: answers,
      },
      // Nothing about an unsigned request is worth telling its sender: the signature comes first.
      preValidation: async (request) => {
        const verdict = verifyNative(request.headers, rawBody(request));
        if (!verdict.ok) throw new HttpProblem('bad-signature', verdict.detail);
      },
      attachValidation: true,
    },
    async (request, reply) => {
      if (request.validationError) throw headerProblem(request.validationError, request.headers['webhook-id'], 'webhook-id');
      const parsed = parseNativeEvent(parseJson(rawBody(request)));
      if (!parsed.ok) throw new HttpProblem('invalid-event', parsed.detail);
      const { change, occurredAt } = parsed.value;
      const id = request.headers['webhook-id'];
      return reply.code(202).send(await intake.accept(receivedEvent({ id, source: 'og', change }, occurredAt)));
    },
  );

  app.post(
    '/webhooks/drupal',
    {
      schema: {
        tags: ['webhooks'],
        operationId: 'postDrupalDelivery',
        summary: "Receive a delivery of Drupal's `webhooks` module",
        description:
          'A delivery of the contrib `webhooks` module, signed with `X-Hub-Signature-256` and/or `X-Hub-Signature` (a plain shared secret). Group ' +
          'nodes and OG memberships become events; any other validly signed delivery is answered `202 ignored`.',
        security: [],
        headers: DrupalHeaders,
        ...documentedBody('DrupalDelivery', { groupCreated: EXAMPLE_DRUPAL }),
        response: answers,
      },
      preValidation: async (request) => {
        const signatures = { sha256: single(request.headers['x-hub-signature-256']), sha1: single(request.headers['x-hub-signature']) };
        const verdict = verifyHub(signatures, rawBody(request));
        if (!verdict.ok) throw new HttpProblem('bad-signature', verdict.detail);
      },
      attachValidation: true,
    },
    async (request, reply) => {
      if (request.validationError) throw headerProblem(request.validationError, request.headers['x-drupal-delivery'], 'X-Drupal-Delivery');
      const id = request.headers['x-drupal-delivery'];
      const body = parseJson(rawBody(request));
      const eventName = request.headers['x-drupal-event']?.trim() || eventOfBody(body);
      if (!eventName) throw new HttpProblem('invalid-event', 'missing header X-Drupal-Event');
      const translation = translateDrupalDelivery(eventName, body, bundles);
      if (translation.kind === 'invalid') throw new HttpProblem('invalid-event', translation.detail);
      if (translation.kind === 'ignored') {
        metrics.events.inc({ source: 'drupal', outcome: 'ignored', reason: '' });
        request.log.debug({ delivery: id, reason: translation.reason }, 'delivery ignored');
        return reply.code(202).send({ id, status: 'ignored' });
      }
      const { change, occurredAt, after } = translation;
      return reply.code(202).send(await intake.accept(receivedEvent({ id, source: 'drupal', change }, occurredAt, { after })));
    },
  );
};

function sourceOf(request: FastifyRequest): EventSource {
  return request.url.startsWith('/webhooks/drupal') ? 'drupal' : 'og';
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/**
 * The problem with a validly signed request's headers. The delivery id is the one that can be
 * wrong once the signature is good (the signature headers were just checked, the event header is
 * free text); any other is named as Fastify found it.
 */
function headerProblem(error: Pick<FastifyError, 'message' | 'validation'>, value: string | undefined, header: string): HttpProblem {
  const name = header.toLowerCase();
  const aboutDeliveryId = (error.validation ?? []).every(
    (issue) => issue.instancePath === `/${name}` || (issue.keyword === 'required' && issue.params.missingProperty === name),
  );
  if (!aboutDeliveryId) return new HttpProblem('invalid-request', error.message);
  return value
    ? new HttpProblem('invalid-delivery-id', `${header} must be 1 to 255 printable ASCII characters`)
    : new HttpProblem('missing-delivery-id', `missing header ${header}`);
}

function eventOfBody(body: unknown): string | undefined {
  const event = typeof body === 'object' && body !== null ? (body as { event?: unknown }).event : undefined;
  return typeof event === 'string' ? event : undefined;
}
