import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import type { IncomingMessage, Server } from 'node:http';
import type { Logger } from 'pino';
import type { ClientErrorResponder } from './client-error-responder.js';
import { CALLBACK_SCOPED_ENTRY, enterStore, getCurrentStore, requestIdOf, runInStore } from './request-context.js';
import type { ShareWithCls } from './cls-store-sharing.js';
import type { RequestIdResolver } from './request-id.resolver.js';
import { InvalidTracingOptionError } from './tracing.errors.js';
import { followResponse, storeForRequest, storeOfResponse } from './http-request-context.js';
import { LazyRequestLogger } from './tracing-logger.factory.js';
import { responseIdHeader } from './response-id-header.js';

const BODYLESS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * HTTP ingress on Fastify (docs/tracing.md): the id is chosen once, in `genReqId`, so that `request.id` and
 * Fastify's own log lines carry it, and the request's context is entered there too, before any hook;
 * an `onRequest` hook makes sure the response header is written whoever writes the head (Fastify, 404s,
 * errors, SSE, raw writes) and ties the context's cancellation to the response (`followResponse`).
 *
 * Why enter the context in `genReqId`, without leaving it: Fastify calls it first thing for every
 * request, inside the HTTP parser's callback for the request's head, and under Node 24's context frames
 * Node restores the previous context when that callback returns (test/ingress-context.e2e-spec.ts
 * holds it to that: a connection's next request, pipelined or not, and a client error after a request
 * see no id). `run()` would make two frames per request where this makes one, and a frame copies the
 * one before it entry by entry (nestjs-cls's root entry among them): the second one was about a fifth
 * of the instructions the whole module added to a small route (bench/http-instructions.bench.ts).
 * Without context frames (Node 22), a context entered this way would stay on the parser's async
 * resource, so the hook below opens it with `run()` instead.
 */
export function installFastifyIngress(
  fastify: FastifyInstance,
  resolver: RequestIdResolver,
  logger: Logger,
  cls: { share?: ShareWithCls; warnIfMiddlewareFirst?: (raw: IncomingMessage) => void },
  clientErrors: ClientErrorResponder,
): void {
  if (fastify.initialConfig.requestIdHeader) {
    // Fastify would take that header's value as the id before our policy runs.
    throw new InvalidTracingOptionError(
      'requestIdHeader',
      'Fastify\'s own requestIdHeader option must stay off when RequestTracingModule is used: it accepts any ' +
        'value unchecked. Remove it from the FastifyAdapter options and set RequestTracingModule\'s "header" instead.',
    );
  }
  const header = resolver.header;
  const ensureIdHeader = responseIdHeader(header);
  removeDefaultClientErrorHandler(fastify.server);
  clientErrors.listen(fastify.server);
  fastify.setGenReqId((raw) => {
    const id = resolver.resolve(raw.headers[header]);
    if (CALLBACK_SCOPED_ENTRY) {
      const store = storeForRequest(id, raw.headers);
      cls.share?.(raw, store);
      enterStore(store);
    }
    return id;
  });
  if (writesLogs(fastify.log)) {
    // Fastify binds the id under its own label (`reqId` unless configured): the one binding it passes.
    fastify.setChildLoggerFactory(
      (_fastifyLogger, bindings, options) => new LazyRequestLogger(logger, bindings, options) as unknown as FastifyBaseLogger,
    );
  }
  fastify.addHook('onRequest', (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => {
    ensureIdHeader(reply, request.id);
    const entered = getCurrentStore();
    const isOurs = entered !== undefined && requestIdOf(entered) === request.id;
    // Not entered yet: Node without context frames (see CALLBACK_SCOPED_ENTRY), or another id generator set after ours.
    const store = isOurs ? entered : storeForRequest(request.id, request.headers);
    if (!isOurs) {
      cls.warnIfMiddlewareFirst?.(request.raw);
      cls.share?.(request.raw, store);
    }
    followResponse(reply.raw, store);
    if (isOurs) done();
    else runInStore(store, done);
  });
  // Body parsing resumes from the socket's callbacks, outside the context opened above: re-enter it,
  // on the routes that take a body (the others pay nothing for the hook).
  const reenter = (_request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => {
    const store = storeOfResponse(reply.raw);
    if (store === undefined) done();
    else runInStore(store, done);
  };
  fastify.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    if (methods.some((method) => !BODYLESS.has(method.toUpperCase()))) {
      route.preValidation = [reenter, ...(route.preValidation === undefined ? [] : [route.preValidation].flat())];
    }
  });
}

/**
 * Fastify answers the HTTP parser's errors itself, without an id, with the handler it binds as the
 * server's `clientError` listener unless the app gave its own (`clientErrorHandler`): that default
 * makes way for the id-carrying answer; an app's own handler stays.
 */
function removeDefaultClientErrorHandler(server: Server): void {
  for (const listener of server.listeners('clientError')) {
    if (listener.name === 'bound defaultClientErrorHandler') server.removeListener('clientError', listener as (...args: unknown[]) => void);
  }
}

/**
 * Whether Fastify was given a logger. Without one, Fastify's logger is a no-op whose children are
 * itself, Fastify writes no lines, and it skips making a per-request logger: a cost this module keeps
 * it from paying by leaving its child-logger factory alone.
 */
function writesLogs(log: FastifyBaseLogger): boolean {
  return log.child({}) !== log;
}
