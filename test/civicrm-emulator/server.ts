/**
 * The HTTP side: a node:http server on 127.0.0.1 that reads form bodies, counts
 * requests, plays the configured faults and latency, and hands the rest to
 * CiviCRM's REST layer.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Headers } from './auth.js';
import type { FaultKind, Faults } from './faults.js';
import { requestFields } from './form.js';
import { htmlPage, jsonResponse, type HttpResponse } from './response.js';
import type { Endpoint, RestRequest } from './rest.js';

/** The menu path of CRM_Utils_REST::ajax (CRM/Core/xml/Menu/Misc.xml, 5.69). */
export const REST_PATH = '/civicrm/ajax/rest';
/** extern/rest.php where a Drupal 7 site keeps the civicrm module; the layout is the emulator's pick. */
export const LEGACY_PATH = '/sites/all/modules/civicrm/extern/rest.php';

const ENDPOINTS: Readonly<Record<string, Endpoint>> = { [REST_PATH]: 'ajax', [LEGACY_PATH]: 'extern' };

export interface TransportOptions {
  readonly port: number;
  readonly faults: Faults;
  /** Called once per HTTP request, before anything else happens to it. */
  onRequest(): void;
  handle(req: RestRequest): HttpResponse;
}

function faultResponse(kind: Exclude<FaultKind, 'reset' | 'timeout'>, requestBody: string): HttpResponse {
  switch (kind) {
    case 'proxy-echo':
      // Not CiviCRM itself: a reverse proxy or WAF in front of it whose error page quotes the
      // request it refused, form body and all, percent-encoded as the client sent it.
      return htmlPage(502, 'Bad Gateway', `The upstream server refused the request: ${requestBody}`);
    case 'http500':
      return htmlPage(500, 'Internal Server Error', 'The website encountered an unexpected error. Please try again later.');
    case 'html':
      return htmlPage(200, 'Site under maintenance', 'The site is currently under maintenance. We should be back shortly.');
    case 'is_error':
      return jsonResponse({ is_error: 1, error_message: 'DB Error: database lock' });
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export class Transport {
  private readonly timers = new Set<NodeJS.Timeout>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async listen(options: TransportOptions): Promise<Transport> {
    let transport: Transport | undefined;
    const server = createServer((req, res) => {
      // An emulator bug surfaces as PHP's fatal errors do: an HTTP 500, here with the stack.
      transport!.serve(options, req, res).catch((err: unknown) => {
        if (res.headersSent || res.destroyed) return;
        res.writeHead(500, { 'Content-Type': 'text/plain' });
        res.end(err instanceof Error ? (err.stack ?? err.message) : String(err));
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port, '127.0.0.1', () => resolve());
    });
    transport = new Transport(server, (server.address() as AddressInfo).port);
    return transport;
  }

  private async serve(options: TransportOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
    options.onRequest();
    // A fault belongs to the request in order of arrival, whatever the latency.
    const fault = options.faults.take();
    let body: string;
    try {
      body = await readBody(req);
    } catch {
      return;
    }
    await this.sleep(options.faults.delay);
    if (fault === 'reset') {
      req.socket.destroy();
      return;
    }
    // Left unanswered; close() ends the connection.
    if (fault === 'timeout') return;
    const response = fault ? faultResponse(fault, body) : this.route(options, req, body);
    if (res.destroyed) return;
    res.writeHead(response.status, { 'Content-Type': response.contentType });
    res.end(response.body);
  }

  private route(options: TransportOptions, req: IncomingMessage, body: string): HttpResponse {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const endpoint = ENDPOINTS[url.pathname];
    if (!endpoint) return htmlPage(404, 'Page not found', 'The requested page could not be found.');
    return options.handle({
      endpoint,
      method: req.method ?? 'GET',
      // PHP fills $_POST for POST requests only (PHP's behaviour, not read in its source here).
      fields: requestFields(url.search.slice(1), req.method === 'POST' ? body : '', req.headers['content-type']),
      headers: req.headers as Headers,
      remoteAddress: req.socket.remoteAddress ?? '127.0.0.1',
    });
  }

  private sleep(ms: number): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        resolve();
      }, ms);
      this.timers.add(timer);
    });
  }

  /** Stops listening and drops every connection, including requests left hanging. */
  async close(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }
}
