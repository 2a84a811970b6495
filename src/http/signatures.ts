// Webhook signature checks: Standard Webhooks for native events, GitHub-style
// X-Hub-Signature-256 for Drupal's webhooks module. Every configured secret is tried,
// so a secret can be rotated without dropping deliveries.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import type { WebhookSecret } from '../config.js';

export type Verdict = { ok: true } | { ok: false; detail: string };

type Headers = Record<string, string | string[] | undefined>;

function standardWebhook(secret: WebhookSecret): Webhook {
  // Plain secrets are used as raw key bytes; whsec_ secrets are base64 after the prefix.
  return secret.standard ? new Webhook(secret.raw) : new Webhook(secret.key, { format: 'raw' });
}

/** Verifies Standard Webhooks headers over the raw body, tolerating 5 minutes of clock skew either way. */
export function nativeVerifier(secrets: WebhookSecret[]): (headers: Headers, rawBody: Buffer) => Verdict {
  const webhooks = secrets.map(standardWebhook);
  return (headers, rawBody) => {
    const wanted = {
      'webhook-id': single(headers['webhook-id']),
      'webhook-timestamp': single(headers['webhook-timestamp']),
      'webhook-signature': single(headers['webhook-signature']),
    };
    const missing = Object.entries(wanted).filter(([, v]) => !v).map(([k]) => k);
    if (missing.length > 0) return { ok: false, detail: `missing header ${missing.join(', ')}` };
    if (!/^\d{1,12}$/.test(wanted['webhook-timestamp']!)) {
      return { ok: false, detail: 'webhook-timestamp must be Unix seconds' };
    }
    let detail = 'no signature matches';
    for (const webhook of webhooks) {
      try {
        webhook.verify(rawBody, wanted as Record<string, string>, { jsonParse: false });
        return { ok: true };
      } catch (error) {
        if (!(error instanceof WebhookVerificationError)) throw error;
        // A stale or future timestamp fails for every secret alike; say so rather than "no match".
        if (/timestamp/i.test(error.message)) detail = `${error.message.toLowerCase()} (more than 5 minutes off)`;
      }
    }
    return { ok: false, detail };
  };
}

/** Verifies `X-Hub-Signature-256: sha256=<hex>` in constant time against every secret. */
export function hubVerifier(secrets: WebhookSecret[]): (header: string | undefined, rawBody: Buffer) => Verdict {
  const keys = secrets.map((s) => Buffer.from(s.raw, 'utf8'));
  return (header, rawBody) => {
    if (!header) return { ok: false, detail: 'missing header X-Hub-Signature-256' };
    const match = /^sha256=([0-9a-fA-F]{64})$/.exec(header.trim());
    if (!match) return { ok: false, detail: 'X-Hub-Signature-256 must be sha256=<64 hex digits>' };
    const given = Buffer.from(match[1]!.toLowerCase(), 'hex');
    let ok = false;
    // Every key is checked, so timing does not tell which one matched.
    for (const key of keys) ok = timingSafeEqual(createHmac('sha256', key).update(rawBody).digest(), given) || ok;
    return ok ? { ok: true } : { ok: false, detail: 'no signature matches' };
  };
}

/** Headers that sign a native event body (used by the CLI's `send` and by tests). */
export function signNative(secret: WebhookSecret, id: string, body: string, nowSeconds = Math.floor(Date.now() / 1000)) {
  const signature = standardWebhook(secret).sign(id, new Date(nowSeconds * 1000), body);
  return { 'webhook-id': id, 'webhook-timestamp': String(nowSeconds), 'webhook-signature': signature };
}

/** The `X-Hub-Signature-256` value for a body. */
export function signHub(secret: WebhookSecret, body: string | Buffer): string {
  return `sha256=${createHmac('sha256', Buffer.from(secret.raw, 'utf8')).update(body).digest('hex')}`;
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
