// Webhook signature checks: Standard Webhooks for native events, GitHub-style
// X-Hub-Signature-256 / X-Hub-Signature for Drupal's webhooks module. Every configured
// secret is tried, so a secret can be rotated without dropping deliveries.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { WebhookSecret } from '../config.js';

export type Verdict = { ok: true } | { ok: false; detail: string };

type Headers = Record<string, string | string[] | undefined>;

const TOLERANCE_SECONDS = 5 * 60;

/** `v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<raw body>">`, over the exact bytes of the body. */
function standardSignature(key: Buffer, id: string, timestamp: string, body: string | Buffer): string {
  const hmac = createHmac('sha256', key).update(`${id}.${timestamp}.`).update(body);
  return `v1,${hmac.digest('base64')}`;
}

/**
 * Verifies Standard Webhooks headers over the raw body, tolerating 5 minutes of clock skew either way.
 * The HMAC covers the bytes received, not a decoding of them: a body that is not valid UTF-8 still
 * verifies when correctly signed, and is then refused as what it is.
 */
export function nativeVerifier(secrets: WebhookSecret[]): (headers: Headers, rawBody: Buffer) => Verdict {
  const keys = secrets.map((s) => s.key);
  return (headers, rawBody) => {
    const wanted = {
      'webhook-id': single(headers['webhook-id']),
      'webhook-timestamp': single(headers['webhook-timestamp']),
      'webhook-signature': single(headers['webhook-signature']),
    };
    const missing = Object.entries(wanted).filter(([, v]) => !v).map(([k]) => k);
    if (missing.length > 0) return { ok: false, detail: `missing header ${missing.join(', ')}` };
    const id = wanted['webhook-id']!;
    const timestamp = wanted['webhook-timestamp']!;
    if (!/^\d{1,12}$/.test(timestamp)) return { ok: false, detail: 'webhook-timestamp must be Unix seconds' };
    const skew = Number(timestamp) - Math.floor(Date.now() / 1000);
    if (skew < -TOLERANCE_SECONDS) return { ok: false, detail: 'message timestamp too old (more than 5 minutes off)' };
    if (skew > TOLERANCE_SECONDS) return { ok: false, detail: 'message timestamp too new (more than 5 minutes off)' };

    const given = wanted['webhook-signature']!.split(' ').filter((s) => s.startsWith('v1,')).map((s) => Buffer.from(s));
    let ok = false;
    // Every key and signature is compared, so timing does not tell which one matched.
    for (const key of keys) {
      const expected = Buffer.from(standardSignature(key, id, timestamp, rawBody));
      for (const signature of given) ok = (signature.length === expected.length && timingSafeEqual(signature, expected)) || ok;
    }
    return ok ? { ok: true } : { ok: false, detail: 'no signature matches' };
  };
}

export type HubAlgorithm = 'sha256' | 'sha1';

/** The signature headers of a delivery of Drupal's webhooks module. */
export interface HubSignatures {
  /** `X-Hub-Signature-256: sha256=<hex>` (module 3.x). */
  sha256?: string;
  /** `X-Hub-Signature: sha1=<hex>` (module 8.x-1.x, the only header it sends). */
  sha1?: string;
}

const HUB = {
  sha256: { header: 'X-Hub-Signature-256', pattern: /^sha256=([0-9a-fA-F]{64})$/, form: 'sha256=<64 hex digits>' },
  sha1: { header: 'X-Hub-Signature', pattern: /^sha1=([0-9a-fA-F]{40})$/, form: 'sha1=<40 hex digits>' },
} as const;

/**
 * Verifies a Drupal delivery in constant time against every secret. X-Hub-Signature-256,
 * when present, alone decides: a wrong one is not saved by a right sha1 next to it.
 * X-Hub-Signature (HMAC-SHA1) counts only without it, and only when `allowed` has sha1.
 */
export function hubVerifier(secrets: WebhookSecret[], allowed: readonly HubAlgorithm[]) {
  const keys = secrets.map((s) => Buffer.from(s.raw, 'utf8'));
  return (headers: HubSignatures, rawBody: Buffer): Verdict => {
    // Present, even empty, is present: an empty sha256 header is a wrong one, not a missing one.
    const algorithm: HubAlgorithm | undefined = headers.sha256 !== undefined ? 'sha256' : headers.sha1 !== undefined ? 'sha1' : undefined;
    if (!algorithm) {
      const names = allowed.includes('sha1') ? 'X-Hub-Signature-256 (or X-Hub-Signature)' : 'X-Hub-Signature-256';
      return { ok: false, detail: `missing header ${names}` };
    }
    if (!allowed.includes(algorithm)) {
      return {
        ok: false,
        detail: 'only X-Hub-Signature (HMAC-SHA1) was sent, and DRUPAL_SIGNATURES allows sha256 only: ' +
          'X-Hub-Signature-256 is required',
      };
    }
    const { header, pattern, form } = HUB[algorithm];
    const match = pattern.exec(headers[algorithm]!.trim());
    if (!match) return { ok: false, detail: `${header} must be ${form}` };
    const given = Buffer.from(match[1]!.toLowerCase(), 'hex');
    let ok = false;
    // Every key is checked, so timing does not tell which one matched.
    for (const key of keys) ok = timingSafeEqual(createHmac(algorithm, key).update(rawBody).digest(), given) || ok;
    return ok ? { ok: true } : { ok: false, detail: `no signature matches (${header})` };
  };
}

/** Headers that sign a native event body (used by the CLI's `send` and by tests). */
export function signNative(secret: WebhookSecret, id: string, body: string | Buffer, nowSeconds = Math.floor(Date.now() / 1000)) {
  const timestamp = String(nowSeconds);
  return { 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': standardSignature(secret.key, id, timestamp, body) };
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
