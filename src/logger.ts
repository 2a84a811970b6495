// The service logger: pino, with every secret-bearing header and field redacted.
import pino, { type Logger } from 'pino';

export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers["webhook-signature"]',
  'req.headers["x-hub-signature-256"]',
  'req.headers["x-hub-signature"]',
  'req.headers["x-civi-auth"]',
  'req.headers["x-civi-key"]',
  '*.apiKey',
  '*.siteKey',
  '*.api_key',
  '*.adminToken',
  '*.webhookSecrets',
  'config.civicrm.apiKey',
  'config.civicrm.siteKey',
];

/** The fields of Fastify's own request serializer, with the URL as `loggedUrl` gives it. */
interface RequestLike {
  method: string;
  url: string;
  host?: string;
  ip?: string;
  socket?: { remotePort?: number };
}

/**
 * A request's URL as logged. Operator routes take no secret in the query, but a token sent
 * there by mistake (`?token=…`) is refused and must not then sit in the access log; their
 * query strings are left out whole.
 */
export function loggedUrl(url: string): string {
  const query = url.indexOf('?');
  if (query === -1 || !/^\/(admin|console)(\/|\?|$)/.test(url)) return url;
  return `${url.slice(0, query)}?[redacted]`;
}

const destinations = new WeakMap<NodeJS.WriteStream, pino.DestinationStream>();

/**
 * A standard stream as a log's destination. It writes each line at once on the event loop's
 * thread (libuv tries a pipe's write there and then) and keeps in memory only what a full pipe will
 * not take. pino's own default hands every write to libuv's thread pool and wakes the event loop
 * when it is done: at one request at a time that cost two thread switches per request (a fifth or
 * more of the intake's CPU per event on a virtual machine), and lines still on their way were lost
 * with the process. pino's synchronous mode would stall the whole service, in sleeps of 100 ms, on
 * a non-blocking pipe that stops draining. A reader gone (EPIPE) ends the log, not the service, as
 * pino's own streams do.
 */
export function stdio(stream: NodeJS.WriteStream): pino.DestinationStream {
  let destination = destinations.get(stream);
  if (!destination) {
    let open = true;
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE') throw error;
      open = false;
    });
    destination = { write: (line: string) => void (open && stream.write(line)) };
    destinations.set(stream, destination);
  }
  return destination;
}

/** Waits, for at most `limitMs`, until `stream` has handed the kernel every line it holds. */
export async function drained(stream: NodeJS.WriteStream, limitMs: number): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (stream.writableLength > 0 && !stream.destroyed && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Lines go to `destination`, by default stdout (see stdio). */
export function createLogger(level: string, destination: pino.DestinationStream = stdio(process.stdout)): Logger {
  return pino(
    {
      level,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      serializers: {
        req: (req: RequestLike) => ({
          method: req.method,
          url: loggedUrl(req.url),
          host: req.host,
          remoteAddress: req.ip,
          remotePort: req.socket?.remotePort,
        }),
      },
    },
    destination,
  );
}

/**
 * The logger each request's logger is made from: it redacts the secret-bearing headers only.
 * A request's lines hold the request, its answer and its errors, never the configuration the
 * wildcard paths guard, and pino tries every path on every line: for an access line, the
 * wildcards cost twice what writing the line does. So configuration, or anything holding keys,
 * is logged with the service's logger, never with `request.log`.
 */
export function requestLogger(logger: Logger): Logger {
  return logger.child({}, { redact: { paths: REDACT_PATHS.filter((path) => path.startsWith('req.headers')), censor: '[redacted]' } });
}
