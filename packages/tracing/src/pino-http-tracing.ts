import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Options } from 'pino-http';
import { tracingGlobals } from './tracing.globals.js';

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
 * pino-http options for an app that logs with pino-http or nestjs-pino next to `RequestTracingModule`:
 * its lines carry the id as `requestId` and leave the request's headers out (a rejected incoming id among
 * them). Spread them first, your own after: `{ pinoHttp: { ...pinoHttpTracingOptions(), level: 'info' } }`;
 * your own `serializers` or `customAttributeKeys` replace these, so merge them instead.
 * @publicApi
 */
export function pinoHttpTracingOptions(): Options<IncomingMessage, ServerResponse> {
  return {
    // pino-http takes `req.id` when there is one: the Express ingress sets it, and on Fastify
    // @fastify/middie copies Fastify's (the module's) onto the raw request. This is for any other way in.
    genReqId: () => tracingGlobals.resolver.ensure(),
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
