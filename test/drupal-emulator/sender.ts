/**
 * The Drupal contrib `webhooks` module as a sender: the headers and bytes it posts for an
 * entity event, per release. Read from the module's source (mirror sanduhrs/drupal-webhooks):
 *
 * - 8.x-1.0-alpha6 (2222750) … alpha8 (a5b11ee): src/WebhooksService.php send() encodes the
 *   payload once (`$this->serializer->encode($payload, 'json')`) and signs those very bytes;
 *   src/Webhook.php lower-cases header names (addHeaders) and sets `content-type` (the config's
 *   `application/json`), `x-drupal-event`, `x-drupal-delivery` (a new UUID per send) and, only
 *   when a secret is set, `x-hub-signature: sha1=<hex HMAC-SHA1 of the body>`. Nothing else signs.
 * - webhooks.module: the body is `{"event", "account", "entity"}` in alpha6 and
 *   `{"event", "user", "entity"}` from alpha7, `user`/`account` being the acting user normalized.
 * - 3.x: `X-Hub-Signature-256: sha256=<hex>` next to the sha1 header, as ../shared/CONTRACT.md
 *   states it. No 3.x source could be read here; this profile follows the contract.
 *
 * The module posts synchronously inside the entity save (webhooks_entity_insert/update/delete
 * call WebhooksService::send), with no retry (send catches the Guzzle exception and only logs
 * "Dispatch Failed"); read at alpha6 and alpha8. alpha8's reliable queue and non-blocking options
 * apply to incoming webhooks only (WebhooksService::receive).
 */
import { createHmac, randomUUID } from 'node:crypto';
import { drupalJsonEncode } from './json.js';

export type WebhooksRelease = '8.x-1.0-alpha6' | '8.x-1.0-alpha8' | '3.x';

export const RELEASES: readonly WebhooksRelease[] = ['8.x-1.0-alpha6', '8.x-1.0-alpha8', '3.x'];

export interface EntityEvent {
  /** `entity:<type>:<create|update|delete>`. */
  event: string;
  /** The acting user, normalized. */
  user?: unknown;
  /** The entity, normalized. */
  entity: unknown;
}

export interface Delivery {
  delivery: string;
  headers: Record<string, string>;
  body: Buffer;
}

/** The body bytes a release posts for an entity event. */
export function deliveryBody(release: WebhooksRelease, { event, user, entity }: EntityEvent): Buffer {
  const actingKey = release === '8.x-1.0-alpha6' ? 'account' : 'user';
  return Buffer.from(drupalJsonEncode({ event, [actingKey]: user ?? null, entity }), 'utf8');
}

/** Headers and body as a release posts them, signed with `secret` (the plain shared secret). */
export function drupalDelivery(release: WebhooksRelease, event: EntityEvent, secret: string, body = deliveryBody(release, event)): Delivery {
  const delivery = randomUUID();
  const sha1 = createHmac('sha1', secret).update(body).digest('hex');
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'x-drupal-event': event.event,
    'x-drupal-delivery': delivery,
    'x-hub-signature': `sha1=${sha1}`,
  };
  if (release === '3.x') headers['x-hub-signature-256'] = `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
  return { delivery, headers, body };
}
