import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Options } from 'pino-http';
import { getCurrentRequestId } from './request-context.js';
import { generateRequestId } from './tracing.globals.js';

/** What pino-http's request serialiser is given (pino-std-serializers' view of the request). */
interface SerializedRequest {
  method?: string;
  url?: string;
  query?: unknown;
  params?: unknown;
  remoteAddress?: string;
  remotePort?: number;
}

/**
 * pino-http options for an app that logs with pino-http or nestjs-pino's `LoggerModule` next to
 * `RequestTracingModule`: spread them first, your own after.
 *
 * ```ts
 * LoggerModule.forRoot({ pinoHttp: { ...pinoHttpTracingOptions(), level: 'info' } })
 * ```
 *
 * Why: by default pino-http puts the id inside `req` (or numbers requests itself when it finds none)
 * and logs every request header, a rejected incoming `X-Request-Id` among them. With these options its
 * lines, and nestjs-pino's `Logger` and `PinoLogger` lines written during the request, carry the id as
 * `requestId`, the field Threadline's own lines use, and the request's headers are left out. Options of
 * yours named `serializers` or `customAttributeKeys` replace these: merge them instead.
 * @publicApi
 */
export function pinoHttpTracingOptions(): Options<IncomingMessage, ServerResponse> {
  return {
    // pino-http takes `req.id` when there is one: the Express ingress sets it, and on Fastify
    // @fastify/middie copies Fastify's (the module's) onto the raw request. This is for any other way in.
    genReqId: () => getCurrentRequestId() ?? generateRequestId(),
    // The id is bound to the request's logger as a field of its own, not inside `req`.
    quietReqLogger: true,
    customAttributeKeys: { reqId: 'requestId' },
    serializers: { req: withoutHeaders },
  };
}

function withoutHeaders(request: SerializedRequest): SerializedRequest {
  const { method, url, query, params, remoteAddress, remotePort } = request;
  return { method, url, query, params, remoteAddress, remotePort };
}
