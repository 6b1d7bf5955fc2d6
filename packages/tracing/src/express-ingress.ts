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

type RequestListener = (request: IncomingMessage, response: ServerResponse) => void;
type Middleware = (request: IncomingMessage, response: ServerResponse, next: (error?: unknown) => void) => void;

/** The parts of an Express app and its Nest adapter the ingress uses. */
export interface ExpressTarget {
  app: RequestListener & { use(middleware: Middleware): unknown };
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
 * HTTP ingress on Express: it takes the app's place as the server's request listener, so the id (also
 * `req.id`), the response header and the context exist before any middleware; a middleware after Nest's
 * body parsers re-enters the context where a parser lost it. Why: docs/tracing.md, "Express".
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
  if (server?.listeners('request').includes(app)) {
    const ingress: RequestListener = (request, response) => {
      const store = open(request, response);
      // Entered without run() where Node ends the context with this callback (see request-context.ts).
      // The access line is written in it, so that "incoming request" has the request's span too.
      if (ENTERED_CONTEXT_ENDS_WITH_CALLBACK) {
        enterStore(store);
        accessLog?.(request, response);
        app(request, response);
      } else {
        runInStore(store, () => {
          accessLog?.(request, response);
          app(request, response);
        });
      }
    };
    server.removeListener('request', app);
    server.on('request', ingress);
  }

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
