import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { pinoHttp } from 'pino-http';
import { pinoHttpTracingOptions } from './pino-http-tracing.js';
import { markBoundToRequest, serializers } from './tracing-logger.factory.js';

/** Writes a request's access lines; called once per request, after its id is chosen. */
export type AccessLog = (request: IncomingMessage, response: ServerResponse) => void;

/**
 * Express's access lines, from pino-http, shaped like Fastify's own: "incoming request" when the
 * request arrives and "request completed" with `responseTime` when it ends ("request aborted" when its
 * client left first),
 * each with `requestId`: the options an app's own pino-http gets (`pinoHttpTracingOptions()`), whose id
 * is bound to the lines, since the completion line is written from the socket's callback, outside the
 * request's context. Headers are not logged: a rejected raw request id must never reach a line.
 */
export function expressAccessLog(logger: Logger): AccessLog {
  const log = pinoHttp({
    ...pinoHttpTracingOptions(),
    // The id is a binding of pino-http's child loggers: the context mixin must not add it a second time.
    logger: markBoundToRequest(logger.child({})),
    customReceivedMessage: () => 'incoming request',
    customReceivedObject: (request) => ({ req: request }),
    // Fastify's wording for every status (the line of a 5xx also carries pino-http's `err`), and pino-http's
    // own for a response its client left before it was complete, which would otherwise read as sent.
    customSuccessMessage: (_request, response) => (response.writableEnded ? 'request completed' : 'request aborted'),
    customErrorMessage: (_request, response) => (response.writableEnded ? 'request completed' : 'request aborted'),
    // Fastify's access lines' fields, headers left out as there.
    serializers,
  });
  return (request, response) => log(request, response);
}
