// Every error answer is an RFC 9457 problem document, built here and nowhere else.
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { PROBLEM_MEDIA_TYPE, PROBLEM_TYPES, problemTypeUri, type ProblemName } from './problem-types.js';

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  409: 'Conflict',
  413: 'Content Too Large',
  414: 'URI Too Long',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** A failure a route throws to answer with a problem document: one of PROBLEM_TYPES, by name. */
export class HttpProblem extends Error {
  readonly status: number;
  readonly retryAfterSeconds: number | undefined;

  constructor(
    /** Also the metrics reason label. */
    readonly reason: ProblemName,
    detail: string,
    /** Only for Fastify's own 4xx refusals, which keep the status Fastify chose. */
    status?: number,
  ) {
    super(detail);
    this.name = 'HttpProblem';
    const type: { status: number; retryAfterSeconds?: number } = PROBLEM_TYPES[reason];
    this.status = status ?? type.status;
    this.retryAfterSeconds = type.retryAfterSeconds;
  }
}

export function problemOf(status: number, reason: ProblemName, detail: string): Problem {
  return { type: problemTypeUri(reason), title: TITLES[status] ?? 'Error', status, detail };
}

export function sendProblem(reply: FastifyReply, problem: HttpProblem): FastifyReply {
  if (problem.retryAfterSeconds !== undefined) reply.header('retry-after', String(problem.retryAfterSeconds));
  return reply.code(problem.status).type(PROBLEM_MEDIA_TYPE).send(problemOf(problem.status, problem.reason, problem.message));
}

/** Any error a route or Fastify raised, as the problem it is answered with. */
export function toProblem(error: FastifyError | HttpProblem): HttpProblem {
  return error instanceof HttpProblem ? error : fromFastifyError(error);
}

/** Fastify's own errors (body limits, content types, parsing) translated to problems. */
function fromFastifyError(error: FastifyError): HttpProblem {
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new HttpProblem('body-too-large', 'the request body is larger than 1 MiB');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new HttpProblem('unsupported-media-type', 'the body must be application/json');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new HttpProblem('invalid-json', 'the body is empty');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new HttpProblem('invalid-content-length', 'the Content-Length does not match the body');
  }
  if (error.validation) return new HttpProblem('invalid-request', error.message);
  if (error instanceof SyntaxError || error.statusCode === 400) return new HttpProblem('invalid-json', 'the body is not valid JSON');
  const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
  return status === 500 ? new HttpProblem('internal', 'unexpected error') : new HttpProblem('request-error', error.message, status);
}

/**
 * Fastify's `frameworkErrors`: what the router refuses before any route runs (a malformed
 * percent-escape, a path parameter over the length limit).
 */
export function frameworkErrors(error: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
  switch (error.code) {
    case 'FST_ERR_BAD_URL':
      void sendProblem(reply, new HttpProblem('bad-url', 'the URL has a malformed percent-escape'));
      return;
    case 'FST_ERR_MAX_PARAM_LENGTH':
      void sendProblem(reply, new HttpProblem('uri-too-long', 'a path segment of the URL is too long'));
      return;
    default:
      void sendProblem(reply, toProblem(error));
  }
}

/**
 * Fastify's `clientErrorHandler`: what Node's HTTP parser refuses on the socket (a request
 * that takes too long, oversized headers, a duplicate Content-Length, Content-Length with
 * Transfer-Encoding). No request object exists yet, so the answer is written by hand.
 */
export function clientErrorHandler(error: NodeJS.ErrnoException, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const problem =
    error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? new HttpProblem('request-timeout', 'the request was not received in time')
      : error.code === 'HPE_HEADER_OVERFLOW'
        ? new HttpProblem('headers-too-large', 'the request headers are too large')
        : new HttpProblem('malformed-request', 'the request is not well-formed HTTP/1.1');
  const body = JSON.stringify(problemOf(problem.status, problem.reason, problem.message));
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${problem.status} ${STATUS_CODES[problem.status]}\r\nContent-Type: ${PROBLEM_MEDIA_TYPE}\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

/** Installs problem+json answers for thrown errors and unknown routes. */
export function installProblemHandlers(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError | HttpProblem, request, reply) => {
    const problem = toProblem(error);
    // Expected refusals (503 while the store is down or the service stops) are logged where
    // they are known, once per outage; only the unexpected is logged per request.
    if (problem.status === 500) request.log.error({ err: error }, 'request failed');
    return sendProblem(reply, problem);
  });
  app.setNotFoundHandler((request, reply) =>
    sendProblem(reply, new HttpProblem('not-found', `no route for ${request.method} ${request.url.split('?')[0]}`)),
  );
}
