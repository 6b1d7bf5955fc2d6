import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { ClientErrorResponder } from './client-error-responder.js';
import type { AccessLog } from './express-access-log.js';
import type { ShareWithCls } from './cls-store-sharing.js';
import { followResponse, storeForRequest, storeOfResponse } from './http-request-context.js';
import { CALLBACK_SCOPED_ENTRY, enterStore, getCurrentStore, requestIdOf, runInStore, storeRunner } from './request-context.js';
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
 * HTTP ingress on Express. The id is chosen, the response header set and the context opened before
 * Express sees the request: the ingress takes the place of the app as the server's request listener,
 * so even middleware added with `app.use()` before Nest's own runs in the request's context. The header goes on with `setHeader`, so every head carries it: Express's
 * replies, Nest's 404s and errors, `@Sse()`, a handler's own `res.writeHead()` or `res.end()`. The id
 * is also `req.id`, where pino-http and nestjs-pino look for one.
 *
 * A request's body arrives in the socket's callbacks, outside any request's context: the events of a
 * request with a body are emitted in its context, so whatever a body parser (express.json, multer, a
 * handler's own reader) calls on from them still sees the id. A middleware added here, after Nest's
 * parsers and before its routes, re-enters the context where a parser lost it (and opens it, for an app
 * served by a server Nest did not make).
 */
export function installExpressIngress(target: ExpressTarget, resolver: RequestIdResolver, options: ExpressIngressOptions): void {
  const header = resolver.header;
  const { accessLog, shareWithCls } = options;

  const open = (request: IncomingMessage, response: ServerResponse): RequestStore => {
    const id = resolver.resolve(request.headers[header]);
    (request as IncomingMessage & { id?: string }).id = id;
    response.setHeader(header, id);
    const store = storeForRequest(id, request.headers);
    followResponse(response, store);
    if (hasBody(request)) emitInStore(request, store);
    shareWithCls?.(request, store);
    accessLog?.(request, response);
    return store;
  };

  const { app, server } = target;
  if (server !== undefined) options.clientErrors?.listen(server);
  if (server !== undefined && server.listeners('request').includes(app)) {
    const ingress: RequestListener = (request, response) => {
      const store = open(request, response);
      // Entered without run() where Node ends the context with this callback (see request-context.ts).
      if (CALLBACK_SCOPED_ENTRY) {
        enterStore(store);
        app(request, response);
      } else {
        runInStore(store, () => app(request, response));
      }
    };
    server.removeListener('request', app);
    server.on('request', ingress);
  }

  app.use(function requestContext(request, response, next) {
    const store = storeOfResponse(response) ?? open(request, response);
    // A context of this request is kept as it is: nestjs-cls's ClsMiddleware, mounted with app.use(),
    // runs the rest of the chain in a copy of it that holds what its setup set.
    const current = getCurrentStore();
    if (current !== undefined && requestIdOf(current) === requestIdOf(store)) next();
    else runInStore(store, next);
  });
}

function hasBody(request: IncomingMessage): boolean {
  const length = request.headers['content-length'];
  return (length !== undefined && length !== '0') || request.headers['transfer-encoding'] !== undefined;
}

/** Makes every event of `request` (`data`, `end`, `close`, ...) reach its listeners inside `store`. */
function emitInStore(request: IncomingMessage, store: RequestStore): void {
  const run = storeRunner(store);
  const emit = request.emit;
  const emitWith = (args: Parameters<IncomingMessage['emit']>) => emit.apply(request, args);
  request.emit = (...args: Parameters<IncomingMessage['emit']>) => run(emitWith, args);
}
