// The access log: one line per request, written when the answer is sent, with the request, the
// status and the time taken. The arrival gets a line of its own only at debug; pino serializes
// nothing for a level it does not print.
import fastify, { type FastifyReply, type FastifyRequest } from 'fastify';

export class AccessLog extends fastify.LogController {
  override incomingRequest(request: FastifyRequest): void {
    request.log.debug({ req: request }, 'incoming request');
  }

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    const line = { req: request, res: reply, responseTime: reply.elapsedTime };
    if (error) reply.log.error({ ...line, err: error }, 'request errored');
    else reply.log.info(line, 'request completed');
  }
}
