import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { CALLBACK_SCOPED_ENTRY, cancelStore, createStore, enterStore, getCurrentStore, releaseCancellation, requestIdOf, runInStore } from './request-context.js';
import type { RequestStore } from './request-context.js';
import type { RequestIdResolver } from './request-id.resolver.js';
import { ClientDisconnectedError } from './request-cancellation.js';
import { InvalidTracingOptionError } from './tracing.errors.js';
import { TRACEPARENT_HEADER } from './request-tracing.constants.js';
import { parseTraceparent } from './traceparent.js';
import { LazyRequestLogger } from './tracing-logger.factory.js';
import { responseIdHeader } from './response-id-header.js';

const RESPONSE_STORE = Symbol('threadline:response-store');
const BODYLESS = new Set(['GET', 'HEAD', 'OPTIONS']);

type TracedResponse = ServerResponse & { [RESPONSE_STORE]?: RequestStore };

/**
 * HTTP ingress (DESIGN.md, step 1): the id is chosen once, in `genReqId`, so that `request.id` and
 * Fastify's own log lines carry it, and the request's context is entered there too, before any hook;
 * an `onRequest` hook makes sure the response header is written whoever writes the head (Fastify, 404s,
 * errors, SSE, raw writes) and ties the context's cancellation to the response (`settleOnClose`).
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
export function installFastifyIngress(fastify: FastifyInstance, resolver: RequestIdResolver, logger: Logger): void {
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
  fastify.setGenReqId((raw) => {
    const id = resolver.resolve(raw.headers[header]);
    if (CALLBACK_SCOPED_ENTRY) enterStore(storeFor(id, raw.headers));
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
    const store = isOurs ? entered : storeFor(request.id, request.headers);
    const response = reply.raw as TracedResponse;
    response[RESPONSE_STORE] = store;
    if (response.destroyed) settleOnClose.call(response);
    else response.on('close', settleOnClose);
    if (isOurs) done();
    else runInStore(store, done);
  });
  // Body parsing resumes from the socket's callbacks, outside the context opened above: re-enter it,
  // on the routes that take a body (the others pay nothing for the hook).
  const reenter = (_request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => {
    const store = (reply.raw as TracedResponse)[RESPONSE_STORE];
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
 * Whether Fastify was given a logger. Without one, Fastify's logger is a no-op whose children are
 * itself, Fastify writes no lines, and it skips making a per-request logger: a cost this module keeps
 * it from paying by leaving its child-logger factory alone.
 */
function writesLogs(log: FastifyBaseLogger): boolean {
  return log.child({}) !== log;
}

/** A new context for request `id`, in the trace context its headers carry. */
function storeFor(id: string, headers: IncomingHttpHeaders): RequestStore {
  return createStore(id, undefined, parseTraceparent(headers[TRACEPARENT_HEADER]));
}

/**
 * A response's `close` listener, one function for every response (no closure per request): the
 * connection closed before the response was sent whole, so the request is cancelled (its signal
 * aborts, now or when first asked for); or the response is complete, and the context lets go of its
 * cancellation.
 *
 * Why let go: the context outlives the request. Node makes the connection's keep-alive timer while
 * finishing the response, inside the request's context, and the timer holds that context until the
 * connection's next request or its timeout. The context must not hold the request's objects for that
 * long: under load, the previous request of every connection survived each young-generation
 * collection, about 160 KB at each (`--trace-gc-nvp`), and an idle connection kept its last request,
 * body included, for up to Fastify's 72 s keep-alive timeout. Nothing links the context to the
 * response any more; the response links to the context, and this listener goes with the response.
 */
function settleOnClose(this: TracedResponse): void {
  const store = this[RESPONSE_STORE]!;
  if (this.writableFinished) releaseCancellation(store);
  else cancelStore(store, new ClientDisconnectedError());
}
