import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { ClientErrorResponder } from './client-error-responder.js';
import type { AccessLog } from './express-access-log.js';
import type { ShareWithCls } from './cls-store-sharing.js';
import { followResponse, storeForRequest, storeOfResponse } from './http-request-context.js';
import {
  ENTERED_CONTEXT_ENDS_WITH_CALLBACK,
  enterStore,
  getCurrentStore,
  requestIdOf,
  runInStore,
  snapshotContext,
} from './request-context.js';
import type { RequestStore } from './request-context.js';
import type { RequestIdResolver } from './request-id.resolver.js';

type Next = (error?: unknown) => void;
type Middleware = (request: IncomingMessage, response: ServerResponse, next: Next) => void;

/** The parts of an Express app and its Nest adapter the ingress uses. */
export interface ExpressTarget {
  /** The app; every way in goes through its `handle` (a server's listener, a parent app, a serverless handler). */
  app: {
    use(middleware: Middleware): unknown;
    handle: (request: IncomingMessage, response: ServerResponse, next?: Next) => void;
  };
  /** The server Nest made for the app, when it made one. */
  server: Server | undefined;
}

export interface ExpressIngressOptions {
  accessLog?: AccessLog;
  shareWithCls?: ShareWithCls;
  /** Answers the requests Node refuses before Express sees them (Node's own answer has no id). */
  clientErrors?: ClientErrorResponder;
}

/**
 * HTTP ingress on Express: it wraps the app's entry, `handle`, so the id (also `req.id`), the response
 * header and the context exist before any middleware, whatever server hands the app its requests (Nest's,
 * or one the app made itself); a middleware after Nest's body parsers re-enters the context where a
 * parser lost it. Why: docs/tracing.md, "Express".
 */
export function installExpressIngress(
  target: ExpressTarget,
  resolver: RequestIdResolver,
  options: ExpressIngressOptions,
): void {
  const header = resolver.header;
  const { accessLog, shareWithCls } = options;

  const open = (request: IncomingMessage, response: ServerResponse): RequestStore => {
    const id = resolver.resolve(request.headers[header]);
    (request as IncomingMessage & { id?: string }).id = id;
    response.setHeader(header, id);
    const store = storeForRequest(id, request);
    followResponse(response, store);
    if (hasBody(request)) emitInStore(request, store);
    shareWithCls?.(request, store);
    return store;
  };

  const { app, server } = target;
  if (server !== undefined) options.clientErrors?.listen(server);
  const handle = app.handle;
  app.handle = function ingress(this: unknown, request, response, next) {
    const store = open(request, response);
    // Entered without run() where Node ends the context with this callback (see request-context.ts).
    // The access line is written in it, so that "incoming request" has the request's span too.
    if (ENTERED_CONTEXT_ENDS_WITH_CALLBACK) {
      enterStore(store);
      accessLog?.(request, response);
      handle.call(this, request, response, next);
    } else {
      runInStore(store, () => {
        accessLog?.(request, response);
        handle.call(this, request, response, next);
      });
    }
  };

  app.use(function requestContext(request, response, next) {
    const opened = storeOfResponse(response);
    const store = opened ?? open(request, response);
    const go =
      opened !== undefined || accessLog === undefined
        ? next
        : () => {
            accessLog(request, response);
            next();
          };
    // A context of this request is kept as it is: nestjs-cls's ClsMiddleware, mounted with app.use(),
    // runs the rest of the chain in a copy of it that holds what its setup set.
    const current = getCurrentStore();
    if (current !== undefined && requestIdOf(current) === requestIdOf(store)) go();
    else runInStore(store, go);
  });
}

function hasBody(request: IncomingMessage): boolean {
  const length = request.headers['content-length'];
  return (length !== undefined && length !== '0') || request.headers['transfer-encoding'] !== undefined;
}

/** Makes every event of `request` (`data`, `end`, `close`, ...) reach its listeners inside `store`. */
function emitInStore(request: IncomingMessage, store: RequestStore): void {
  const run = snapshotContext(store);
  // eslint-disable-next-line @typescript-eslint/unbound-method -- called through apply() with the request as `this`
  const emit = request.emit;
  const emitWith = (args: Parameters<IncomingMessage['emit']>) => emit.apply(request, args);
  request.emit = (...args: Parameters<IncomingMessage['emit']>) => run(emitWith, args);
}
