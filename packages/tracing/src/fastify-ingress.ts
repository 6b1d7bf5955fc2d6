import type {
  FastifyBaseLogger,
  FastifyError,
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  HookHandlerDoneFunction,
  onRequestHookHandler,
} from 'fastify';
import type { IncomingMessage, Server } from 'node:http';
import type { Logger } from 'pino';
import type { ClientErrorResponder } from './client-error-responder.js';
import {
  ENTERED_CONTEXT_ENDS_WITH_CALLBACK,
  enterStore,
  getCurrentStore,
  requestIdOf,
  runInStore,
} from './request-context.js';
import type { RequestStore } from './request-context.js';
import type { ShareWithCls } from './cls-store-sharing.js';
import type { RequestIdResolver } from './request-id.resolver.js';
import { InvalidTracingOptionError } from './tracing.errors.js';
import {
  followResponse,
  keepStoreOnRequest,
  setHttpRoute,
  storeForRequest,
  storeKeptOnRequest,
} from './http-request-context.js';
import { LazyRequestLogger } from './tracing-logger.factory.js';
import { responseIdHeader } from './response-id-header.js';
import { setAbortedRequestLine } from './aborted-request-line.js';
import { isRecordingSpans } from './spans/span-recorders.js';

/**
 * HTTP ingress on Fastify: the id is chosen once, in `genReqId`, where the request's context is also
 * entered without `run()` (Node ends it with the parser's callback); an `onRequest` hook, put ahead of
 * the others, sets the response header and ties the context to the response. Without context frames,
 * `firstHook` (Nest's adapter's `setOnRequestHook`) opens it with `run()` ahead of every other `onRequest` hook. Why, and the Node 22
 * path: docs/tracing.md, "Fastify".
 */
export function installFastifyIngress(
  fastify: FastifyInstance,
  resolver: RequestIdResolver,
  logger: Logger,
  cls: { share?: ShareWithCls; warnIfMiddlewareFirst?: (raw: IncomingMessage) => void },
  clientErrors: ClientErrorResponder,
  firstHook?: (hook: onRequestHookHandler) => void,
): void {
  if (fastify.initialConfig.requestIdHeader) {
    // Fastify would take that header's value as the id before our policy runs.
    throw new InvalidTracingOptionError(
      'requestIdHeader',
      "Fastify's own requestIdHeader option must stay off when RequestTracingModule is used: it accepts any " +
        'value unchecked. Remove it from the FastifyAdapter options and set RequestTracingModule\'s "header" instead.',
    );
  }
  const header = resolver.header;
  const ensureIdHeader = responseIdHeader(header);
  removeDefaultClientErrorHandler(fastify.server);
  clientErrors.listen(fastify.server);
  answerFrameworkErrors(fastify, header, clientErrors);
  const opensInFirstHook = !ENTERED_CONTEXT_ENDS_WITH_CALLBACK && firstHook !== undefined;
  fastify.setGenReqId((raw) => {
    const id = resolver.resolve(raw.headers[header]);
    if (ENTERED_CONTEXT_ENDS_WITH_CALLBACK) {
      const store = storeForRequest(id, raw);
      cls.share?.(raw, store);
      enterStore(store);
    } else if (opensInFirstHook) {
      // Made here, not in the hook, so that Fastify's "incoming request" line, written before any hook,
      // has the request's span (`trace_id`) like every later line.
      keepStoreOnRequest(raw, storeForRequest(id, raw));
    }
    return id;
  });
  if (opensInFirstHook) {
    // Nest middleware runs in @fastify/middie's onRequest hook, added when Nest creates the app, before
    // the module's hook below, and so do the CORS hook and an app's own hooks: the adapter's own first
    // hook is the one place that runs ahead of them all (and sets the id header of what they answer).
    firstHook((request, reply, done) => {
      ensureIdHeader(reply, request.id);
      const store = storeMadeFor(request) ?? storeForRequest(request.id, request.raw);
      cls.share?.(request.raw, store);
      runInStore(store, done);
    });
  }
  if (writesLogs(fastify.log)) {
    // Fastify binds the id under its own label (`reqId` unless configured): the one binding it passes.
    fastify.setChildLoggerFactory(
      (_fastifyLogger, bindings, options, raw) => new LazyRequestLogger(logger, bindings, options, raw),
    );
    // Fastify ends a request's lines with "request completed" once its response is sent, and with nothing
    // when the client leaves first: this line ends those, as pino-http's does on Express.
    const logController = logControllerOf(fastify);
    setAbortedRequestLine(fastify.server, (raw, store) => {
      if (logController?.isLogDisabled(raw) !== true) runInStore(store, () => logger.info('request aborted'));
    });
  }
  const onRequest = (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => {
    ensureIdHeader(reply, request.id);
    const entered = getCurrentStore();
    const isOurs = entered !== undefined && requestIdOf(entered) === request.id;
    // Not entered yet: Node without context frames and no first hook (or the app replaced it), or another id generator set after ours.
    const store = isOurs ? entered : storeForRequest(request.id, request.raw);
    if (!isOurs) {
      cls.warnIfMiddlewareFirst?.(request.raw);
      cls.share?.(request.raw, store);
    }
    followResponse(reply.raw, store);
    // routeOptions is a getter that builds an object: read only when there is a span to name.
    if (isRecordingSpans()) setHttpRoute(store, request.routeOptions.url);
    if (isOurs) done();
    else runInStore(store, done);
  };
  // With context frames the context is open from genReqId on: the hook goes ahead of the hooks added
  // before it (Nest middleware's, CORS's, the app's own), so that a response they answer has the id.
  if (ENTERED_CONTEXT_ENDS_WITH_CALLBACK) addFirstOnRequestHook(fastify, onRequest);
  else fastify.addHook('onRequest', onRequest);
}

/** The context made for `request`'s id by the module's `genReqId`: none when another generator chose it. */
function storeMadeFor(request: FastifyRequest): RequestStore | undefined {
  const store = storeKeptOnRequest(request.raw);
  return store !== undefined && requestIdOf(store) === request.id ? store : undefined;
}

/**
 * Adds `hook` ahead of the `onRequest` hooks added so far. Fastify's API only appends; its hooks are
 * kept in an array of the instance that routes copy when the app is ready, so the hook is put first
 * there. Should Fastify keep them elsewhere one day, it is appended, and the tests of early answers fail.
 */
function addFirstOnRequestHook(fastify: FastifyInstance, hook: onRequestHookHandler): void {
  const key = Object.getOwnPropertySymbols(fastify).find((symbol) => symbol.description === 'fastify.hooks');
  const hooks = key === undefined ? undefined : (fastify as unknown as Record<symbol, { onRequest?: unknown }>)[key];
  if (Array.isArray(hooks?.onRequest)) (hooks.onRequest as onRequestHookHandler[]).unshift(hook);
  else fastify.addHook('onRequest', hook);
}

/**
 * Fastify answers the HTTP parser's errors itself, without an id, with the handler it binds as the
 * server's `clientError` listener unless the app gave its own (`clientErrorHandler`): that default
 * makes way for the id-carrying answer; an app's own handler stays.
 */
function removeDefaultClientErrorHandler(server: Server): void {
  for (const listener of server.listeners('clientError')) {
    if (listener.name === 'bound defaultClientErrorHandler')
      server.removeListener('clientError', listener as (...args: unknown[]) => void);
  }
}

/**
 * Fastify answers a request it cannot route (a malformed percent-encoding in its path, a path parameter
 * over `maxParamLength`) before any hook runs, through its `frameworkErrors` option if it has one (Nest's
 * adapter gives one that runs its security hook, then sends the error), else with its own body; either
 * way without an id. Its API takes that option only at creation, but the router reads it from the
 * instance's options each time, so it is wrapped there: the answer carries the id Fastify generated for
 * the request by the policy, and when the error itself is what gets sent, the configured body instead.
 * Should Fastify keep its options elsewhere one day, nothing is wrapped, and the tests of such requests fail.
 */
function answerFrameworkErrors(fastify: FastifyInstance, header: string, clientErrors: ClientErrorResponder): void {
  const key = Object.getOwnPropertySymbols(fastify).find((symbol) => symbol.description === 'fastify.options');
  const options = key === undefined ? undefined : (fastify as unknown as Record<symbol, unknown>)[key];
  if (typeof options !== 'object' || options === null) return;
  const settable = options as { frameworkErrors?: FrameworkErrorHandler | null };
  const given = settable.frameworkErrors ?? undefined;
  const answer = (error: FastifyError, request: FastifyRequest, reply: FastifyReply) =>
    clientErrors.answerFrameworkError(error, { id: request.id, remoteAddress: request.ip, reply });
  settable.frameworkErrors = (error, request, reply) => {
    if (given === undefined) return answer(error, request, reply);
    reply.header(header, request.id);
    // Only for this reply, shadowing Reply's own `send` once: the error sent as it is becomes the configured body.
    const own = reply as unknown as Record<string, unknown>;
    own.send = (payload?: unknown) => {
      delete own.send;
      if (payload !== error) return reply.send(payload);
      answer(error, request, reply);
      return reply;
    };
    return given(error, request, reply);
  };
}

type FrameworkErrorHandler = (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => void;

/** Fastify's LogController (its `logController` option), which says whether a request's lines are written. */
function logControllerOf(fastify: FastifyInstance): { isLogDisabled(request: IncomingMessage): boolean } | undefined {
  const key = Object.getOwnPropertySymbols(fastify).find((symbol) => symbol.description === 'fastify.logController');
  const controller = key === undefined ? undefined : (fastify as unknown as Record<symbol, unknown>)[key];
  return typeof (controller as { isLogDisabled?: unknown } | undefined)?.isLogDisabled === 'function'
    ? (controller as { isLogDisabled(request: IncomingMessage): boolean })
    : undefined;
}

/**
 * Whether Fastify was given a logger. Without one, Fastify's logger is a no-op whose children are
 * itself, Fastify writes no lines, and it skips making a per-request logger: a cost this module keeps
 * it from paying by leaving its child-logger factory alone.
 */
function writesLogs(log: FastifyBaseLogger): boolean {
  return log.child({}) !== log;
}
