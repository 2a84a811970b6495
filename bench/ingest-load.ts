// The load generator of bench/ingest.ts, in a process of its own: autocannon posting signed
// native membership events (Standard Webhooks, a new webhook-id for every request).
import { createHmac } from 'node:crypto';
import autocannon from 'autocannon';

const { url, connections, durationSeconds, secret, uidBase = 0 } = JSON.parse(process.argv[2]!) as {
  url: string;
  connections: number;
  durationSeconds: number;
  secret: string;
  /** Added to every uid: runs with different bases post memberships of different users. */
  uidBase?: number;
};
const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
let n = 0;

// autocannon's own percentiles are whole milliseconds; each answer's time is kept here instead.
const times: number[] = [];
let finished: (result: autocannon.Result) => void;
const done = new Promise<autocannon.Result>((resolve) => (finished = resolve));
const instance = autocannon({
  url,
  connections,
  duration: durationSeconds,
  requests: [
    {
      method: 'POST',
      setupRequest(request) {
        const i = n++;
        const id = `load-${process.pid}-${i}`;
        const timestamp = String(Math.floor(Date.now() / 1000));
        const body = JSON.stringify({
          type: 'og.membership.created',
          timestamp: new Date().toISOString(),
          data: { group_id: 1 + (i % 50), user: { id: uidBase + 1 + (i % 2000), email: `u${uidBase + 1 + (i % 2000)}@example.org` }, state: 'active', is_admin: false },
        });
        const signature = createHmac('sha256', key).update(`${id}.${timestamp}.`).update(body).digest('base64');
        return {
          ...request,
          body,
          headers: { 'content-type': 'application/json', 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': `v1,${signature}` },
        };
      },
    },
  ],
}, (error, result) => {
  if (error) throw error;
  finished(result);
});
instance.on('response', (_client, statusCode, _bytes, responseTime) => {
  if (statusCode >= 200 && statusCode < 300) times.push(responseTime);
});
const result = await done;
times.sort((a, b) => a - b);
const percentile = (p: number) => times[Math.min(times.length - 1, Math.max(0, Math.ceil((p / 100) * times.length) - 1))] ?? NaN;
process.send!({
  requests: result.requests.total,
  perSecond: result.requests.average,
  p50: percentile(50),
  p99: percentile(99),
  non2xx: result.non2xx,
  errors: result.errors + result.timeouts,
});
