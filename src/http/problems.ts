// Every error answer is an RFC 9457 problem document, built here and nowhere else.
import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify';

export const PROBLEM_TYPE = 'application/problem+json';

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
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** A failure a route throws to answer with a problem document. */
export class HttpProblem extends Error {
  constructor(
    readonly status: number,
    /** A short slug naming the problem; also the metrics reason label. */
    readonly reason: string,
    detail: string,
    readonly retryAfterSeconds?: number,
  ) {
    super(detail);
    this.name = 'HttpProblem';
  }
}

export function problemOf(status: number, reason: string, detail: string): Problem {
  return { type: `urn:og-civicrm-sync:problem:${reason}`, title: TITLES[status] ?? 'Error', status, detail };
}

export function sendProblem(reply: FastifyReply, problem: HttpProblem): FastifyReply {
  if (problem.retryAfterSeconds !== undefined) reply.header('retry-after', String(problem.retryAfterSeconds));
  return reply.code(problem.status).type(PROBLEM_TYPE).send(problemOf(problem.status, problem.reason, problem.message));
}

/** Any error a route or Fastify raised, as the problem it is answered with. */
export function toProblem(error: FastifyError | HttpProblem): HttpProblem {
  return error instanceof HttpProblem ? error : fromFastifyError(error);
}

/** Fastify's own errors (body limits, content types, parsing) translated to problems. */
function fromFastifyError(error: FastifyError): HttpProblem {
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new HttpProblem(413, 'body-too-large', 'the request body is larger than 1 MiB');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new HttpProblem(415, 'unsupported-media-type', 'the body must be application/json');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new HttpProblem(400, 'invalid-json', 'the body is empty');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new HttpProblem(400, 'invalid-content-length', 'the Content-Length does not match the body');
  }
  if (error.validation) return new HttpProblem(400, 'invalid-request', error.message);
  if (error instanceof SyntaxError || error.statusCode === 400) return new HttpProblem(400, 'invalid-json', 'the body is not valid JSON');
  const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
  return new HttpProblem(status, status === 500 ? 'internal' : 'request-error', status === 500 ? 'unexpected error' : error.message);
}

/** Installs problem+json answers for thrown errors and unknown routes. */
export function installProblemHandlers(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError | HttpProblem, request, reply) => {
    const problem = toProblem(error);
    if (problem.status >= 500) request.log.error({ err: error }, 'request failed');
    return sendProblem(reply, problem);
  });
  app.setNotFoundHandler((request, reply) =>
    sendProblem(reply, new HttpProblem(404, 'not-found', `no route for ${request.method} ${request.url.split('?')[0]}`)),
  );
}
