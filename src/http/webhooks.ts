// POST /webhooks/og and POST /webhooks/drupal: verify the signature over the raw body,
// validate, translate to the normalized event, hand it to the intake.
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { WebhookSecret } from '../config.js';
import { translateDrupalDelivery } from '../events/drupal.js';
import type { EventSource } from '../events/model.js';
import { parseNativeEvent } from '../events/native.js';
import type { Metrics } from '../metrics.js';
import type { Intake } from './intake.js';
import { keepRawJsonBodies, parseJson, rawBody } from './json-body.js';
import { HttpProblem, toProblem } from './problems.js';
import { hubVerifier, nativeVerifier, type HubAlgorithm } from './signatures.js';

export interface WebhookOptions {
  secrets: WebhookSecret[];
  groupBundles: string[];
  drupalSignatures: HubAlgorithm[];
  intake: Intake;
  metrics: Metrics;
}

export const webhookRoutes: FastifyPluginAsync<WebhookOptions> = async (app, options) => {
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

  app.post('/webhooks/og', async (request, reply) => {
    const raw = rawBody(request);
    const verdict = verifyNative(request.headers, raw);
    if (!verdict.ok) throw new HttpProblem('bad-signature', verdict.detail);
    const id = deliveryId(request.headers['webhook-id'], 'webhook-id');
    const parsed = parseNativeEvent(parseJson(raw));
    if (!parsed.ok) throw new HttpProblem('invalid-event', parsed.detail);
    const receivedAt = Date.now();
    const { change, occurredAt } = parsed.value;
    return reply.code(202).send(await intake.accept({ id, source: 'og', occurredAt: occurredAt ?? receivedAt, receivedAt, change }));
  });

  app.post('/webhooks/drupal', async (request, reply) => {
    const raw = rawBody(request);
    const verdict = verifyHub(
      { sha256: single(request.headers['x-hub-signature-256']), sha1: single(request.headers['x-hub-signature']) },
      raw,
    );
    if (!verdict.ok) throw new HttpProblem('bad-signature', verdict.detail);
    const id = deliveryId(request.headers['x-drupal-delivery'], 'X-Drupal-Delivery');
    const body = parseJson(raw);
    const eventName = single(request.headers['x-drupal-event'])?.trim() || eventOfBody(body);
    if (!eventName) throw new HttpProblem('invalid-event', 'missing header X-Drupal-Event');
    const translation = translateDrupalDelivery(eventName, body, bundles);
    if (translation.kind === 'invalid') throw new HttpProblem('invalid-event', translation.detail);
    if (translation.kind === 'ignored') {
      metrics.events.inc({ source: 'drupal', outcome: 'ignored', reason: '' });
      request.log.debug({ delivery: id, reason: translation.reason }, 'delivery ignored');
      return reply.code(202).send({ id, status: 'ignored' });
    }
    const receivedAt = Date.now();
    const occurredAt = translation.occurredAt ?? receivedAt;
    return reply.code(202).send(await intake.accept({ id, source: 'drupal', occurredAt, receivedAt, change: translation.change }));
  });
};

function sourceOf(request: FastifyRequest): EventSource {
  return request.url.startsWith('/webhooks/drupal') ? 'drupal' : 'og';
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function deliveryId(value: string | string[] | undefined, header: string): string {
  const id = single(value)?.trim();
  if (!id) throw new HttpProblem('missing-delivery-id', `missing header ${header}`);
  if (id.length > 255 || !/^[\x21-\x7e]+$/.test(id)) {
    throw new HttpProblem('invalid-delivery-id', `${header} must be 1 to 255 printable ASCII characters`);
  }
  return id;
}

function eventOfBody(body: unknown): string | undefined {
  const event = typeof body === 'object' && body !== null ? (body as { event?: unknown }).event : undefined;
  return typeof event === 'string' ? event : undefined;
}
