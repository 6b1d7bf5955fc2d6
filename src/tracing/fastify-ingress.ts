import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import type { Logger } from 'pino';
import { createStore, runInStore } from './request-context.js';
import type { RequestStore } from './request-context.js';
import type { RequestIdResolver } from './request-id.resolver.js';
import { ClientDisconnectedError, RequestCancellation } from './request-cancellation.js';
import { InvalidTracingOptionError } from './tracing.errors.js';
import { TRACEPARENT_HEADER } from './request-tracing.constants.js';
import { parseTraceparent } from './traceparent.js';
import { LazyRequestLogger } from './tracing-logger.factory.js';
import { responseIdHeader } from './response-id-header.js';

const REQUEST_STORE = Symbol('threadline:request-store');
const BODYLESS = new Set(['GET', 'HEAD', 'OPTIONS']);

type TracedRequest = FastifyRequest & { [REQUEST_STORE]?: RequestStore };

/**
 * HTTP ingress (DESIGN.md, step 1): the id is chosen once, in `genReqId`, so that `request.id` and
 * Fastify's own log lines carry it; an `onRequest` hook makes sure the response header is written
 * whoever writes the head (Fastify, 404s, errors, SSE, raw writes) and opens the request's context.
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
  fastify.setGenReqId((raw) => resolver.resolve(raw.headers[header]));
  if (writesLogs(fastify.log)) {
    // Fastify binds the id under its own label (`reqId` unless configured): the one binding it passes.
    fastify.setChildLoggerFactory(
      (_fastifyLogger, bindings, options) => new LazyRequestLogger(logger, bindings, options) as unknown as FastifyBaseLogger,
    );
  }
  fastify.addHook('onRequest', (request: TracedRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => {
    ensureIdHeader(reply, request.id);
    const store = createStore(request.id, disconnectCancellation(reply), parseTraceparent(request.headers[TRACEPARENT_HEADER]));
    request[REQUEST_STORE] = store;
    runInStore(store, done);
  });
  // Body parsing resumes from the socket's callbacks, outside the context opened above: re-enter it,
  // on the routes that take a body (the others pay nothing for the hook).
  const reenter = (request: TracedRequest, _reply: FastifyReply, done: HookHandlerDoneFunction) => {
    const store = request[REQUEST_STORE];
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

/** Aborts the request's signal when the connection closes before the response has been sent whole. */
function disconnectCancellation(reply: FastifyReply): RequestCancellation {
  return new RequestCancellation((abort) => {
    const response = reply.raw;
    const onClose = () => {
      if (!response.writableFinished) abort(new ClientDisconnectedError());
    };
    if (response.destroyed) onClose();
    else response.once('close', onClose);
  });
}
