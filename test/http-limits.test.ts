// What a careless or hostile sender, a proxy or a slow network can do to the listening socket:
// every answer is problem+json, a stalled request is cut, and sockets are bounded.
import { connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, signedNative, nativeBody, testApp, testConfig, type TestApp } from './support/app.js';

const MAX_CONNECTIONS = 20;
let app: TestApp;
let port: number;

beforeAll(async () => {
  app = await testApp({ config: testConfig({ REQUEST_TIMEOUT: '1s', MAX_CONNECTIONS: String(MAX_CONNECTIONS) }) });
  await app.fastify.listen({ port: 0, host: '127.0.0.1' });
  port = (app.fastify.server.address() as AddressInfo).port;
});

afterAll(async () => {
  await app.close();
});

interface Exchange {
  /** Everything the server wrote before it closed the socket. */
  text: string;
  status: number | undefined;
  type: string | undefined;
  body: Record<string, unknown> | undefined;
}

/** Opens a socket, writes `data`, and collects the answer until the server closes it. */
function exchange(data: string | Buffer, options: { end?: boolean } = {}): { socket: Socket; done: Promise<Exchange> } {
  const socket = connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  const done = new Promise<Exchange>((resolve) => {
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const [head = '', body = ''] = text.split('\r\n\r\n');
      resolve({
        text,
        status: /^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] === undefined ? undefined : Number(/^HTTP\/1\.1 (\d{3})/.exec(head)![1]),
        type: /^content-type: *([^\r\n]*)/im.exec(head)?.[1],
        body: body === '' ? undefined : (JSON.parse(body) as Record<string, unknown>),
      });
    });
  });
  socket.write(data);
  if (options.end) socket.end();
  return { socket, done };
}

function expectProblem(answer: Exchange, status: number, reason: string) {
  expect(answer.status, answer.text).toBe(status);
  expect(answer.type).toMatch(/^application\/problem\+json\b/);
  expect(answer.body).toMatchObject({ type: `urn:og-civicrm-sync:problem:${reason}`, status, title: expect.any(String), detail: expect.any(String) });
}

const signed = () => signedNative(nativeBody('og.group.created', { group: { id: 42, title: 'Chess Club' } }));

function headersOf(path: string, headers: Record<string, string | number>): string {
  return `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
}

describe('REQUEST_TIMEOUT', () => {
  it('cuts a sender that stalls its body with 408, and stores nothing', async () => {
    const { headers, payload } = signed();
    const { done } = exchange(headersOf('/webhooks/og', { ...headers, 'content-length': Buffer.byteLength(payload) }) + payload.slice(0, 10));
    expectProblem(await done, 408, 'request-timeout');
    expect(await app.store.listEvents({ limit: 10 })).toEqual([]);
  });

  it('cuts a sender that stalls its headers with 408', async () => {
    const { done } = exchange('POST /webhooks/og HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: applic');
    expectProblem(await done, 408, 'request-timeout');
  });

  it('takes a request that arrives in pieces within the time', async () => {
    const { headers, payload } = signed();
    const { socket, done } = exchange(headersOf('/webhooks/og', { ...headers, 'content-length': Buffer.byteLength(payload), connection: 'close' }));
    for (const piece of [payload.slice(0, 20), payload.slice(20)]) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      socket.write(piece);
    }
    const answer = await done;
    expect(answer.status, answer.text).toBe(202);
  });
});

describe('MAX_CONNECTIONS', () => {
  it('closes sockets past the limit at once, and serves again once stalled ones are cut', async () => {
    const stalled = Array.from({ length: MAX_CONNECTIONS }, () => exchange('POST /webhooks/og HTTP/1.1\r\nHost: x\r\n'));
    await new Promise((resolve) => setTimeout(resolve, 200));
    const refused = await exchange('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n').done;
    expect(refused.text).toBe('');
    for (const { done } of stalled) expectProblem(await done, 408, 'request-timeout');
    const served = await exchange('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n').done;
    expect(served.status).toBe(200);
  });
});

describe('answers Node and the router give before any route runs', () => {
  it('a duplicate Content-Length is 400 problem+json', async () => {
    const answer = await exchange('POST /webhooks/og HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}').done;
    expectProblem(answer, 400, 'malformed-request');
  });

  it('Content-Length with Transfer-Encoding is 400 problem+json', async () => {
    const answer = await exchange('POST /webhooks/og HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n').done;
    expectProblem(answer, 400, 'malformed-request');
  });

  it('headers over the size limit are 431 problem+json', async () => {
    const answer = await exchange(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`).done;
    expectProblem(answer, 431, 'headers-too-large');
  });

  it('a malformed percent-escape in a path parameter is 400 problem+json', async () => {
    const answer = await exchange(`POST /admin/events/%zz/replay HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ADMIN_TOKEN}\r\nConnection: close\r\n\r\n`).done;
    expectProblem(answer, 400, 'bad-url');
  });

  it('a path parameter over the length limit is 414 problem+json', async () => {
    const answer = await exchange(`GET /admin/groups/${'1'.repeat(200)} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ADMIN_TOKEN}\r\nConnection: close\r\n\r\n`).done;
    expectProblem(answer, 414, 'uri-too-long');
  });
});
