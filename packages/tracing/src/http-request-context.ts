import type { IncomingMessage, ServerResponse } from 'node:http';
import { abortedRequestLineOf } from './aborted-request-line.js';
import { cancelStore, createStore, releaseCancellation, setSpanOf, spanOf } from './request-context.js';
import type { RequestStore } from './request-context.js';
import { ClientDisconnectedError } from './request-cancellation.js';
import { TRACEPARENT_HEADER, TRACESTATE_HEADER } from './request-tracing.constants.js';
import { startSpan } from './spans/span-context.js';
import type { Span } from './spans/span.js';
import { isRecordingSpans } from './spans/span-recorders.js';
import { SpanNames } from './spans/span-names.js';
import { parseTraceparent, parseTracestate } from './traceparent.js';

/** A request's span named after its route, `{method} {route}`: one string for each pair. */
const routeSpanNames = new SpanNames(' ');

const RESPONSE_STORE = Symbol('threadline:response-store');
const REQUEST_STORE = Symbol('threadline:request-store');

type TracedResponse = ServerResponse & { [RESPONSE_STORE]?: RequestStore };
type KeptRequest = IncomingMessage & { [REQUEST_STORE]?: RequestStore };
type ExpressRequest = IncomingMessage & { route?: { path?: unknown }; baseUrl?: string };

/** What both HTTP ingresses (Fastify, Express) do with a request's context once its id is chosen. */

/**
 * A new context for request `id`, in the trace context its headers carry; when spans are recorded, with
 * the request's `server` span as its current span (ended by `followResponse()` when the response closes).
 */
export function storeForRequest(id: string, request: IncomingMessage): RequestStore {
  const traceparent = parseTraceparent(request.headers[TRACEPARENT_HEADER]);
  const tracestate = traceparent === undefined ? undefined : parseTracestate(request.headers[TRACESTATE_HEADER]);
  const store = createStore(id, undefined, traceparent, tracestate);
  if (isRecordingSpans()) startHttpSpan(store, request);
  return store;
}

function startHttpSpan(store: RequestStore, request: IncomingMessage): void {
  const method = request.method ?? 'GET';
  const url = request.url ?? '/';
  const query = url.indexOf('?');
  const path = query === -1 ? url : url.slice(0, query);
  const attributes = { 'http.request.method': method, 'url.path': path };
  // Named `{method}` until a route matches (`nameAfterRoute`): as OpenTelemetry's HTTP conventions say,
  // never after the path a client sent, which would make a span name of every path tried.
  const span = startSpan(method, 'server', attributes, store);
  if (span !== undefined) setSpanOf(store, span);
}

/**
 * Keeps `store` on the request it was made for, before any context is entered: on Fastify without context
 * frames, from `genReqId` to the first hook, which enters it, and for the request's logger meanwhile.
 */
export function keepStoreOnRequest(request: IncomingMessage, store: RequestStore): void {
  (request as KeptRequest)[REQUEST_STORE] = store;
}

/** The context `keepStoreOnRequest()` kept on `request`, if any. */
export function storeKeptOnRequest(request: IncomingMessage): RequestStore | undefined {
  return (request as KeptRequest)[REQUEST_STORE];
}

/** Names the request's span after the route that matched (`GET /users/:id`), once it is known. */
export function setHttpRoute(store: RequestStore, route: string | undefined): void {
  const span = spanOf(store);
  if (route !== undefined && span?.kind === 'server') nameAfterRoute(span, route);
}

function nameAfterRoute(span: Span, route: string): void {
  span.name = routeSpanNames.of(span.attributes['http.request.method'] as string, route);
  span.setAttribute('http.route', route);
}

/** Ties `store` to the response: its request is cancelled if the connection closes first (`settleOnClose`). */
export function followResponse(response: ServerResponse, store: RequestStore): void {
  const traced = response as TracedResponse;
  traced[RESPONSE_STORE] = store;
  if (response.destroyed) settleOnClose.call(traced);
  else response.on('close', settleOnClose);
}

/** The context `followResponse()` tied to a response, to re-enter it from code the socket resumes. */
export function storeOfResponse(response: ServerResponse): RequestStore | undefined {
  return (response as TracedResponse)[RESPONSE_STORE];
}

/**
 * A response's `close` listener, one function for every response: a connection closed early cancels the
 * request; a complete response makes the context let go of its cancellation, since the context outlives
 * the request (docs/tracing.md, "Fastify"; docs/architecture.md, "Cancellation").
 */
function settleOnClose(this: TracedResponse): void {
  const store = this[RESPONSE_STORE]!;
  if (this.writableFinished) releaseCancellation(store);
  else {
    cancelStore(store, new ClientDisconnectedError());
    abortedRequestLineOf(this)?.(this.req, store);
  }
  const span = spanOf(store);
  if (span?.kind === 'server') endHttpSpan(span, this);
}

function endHttpSpan(span: Span, response: ServerResponse): void {
  // Express leaves the route that matched on the request; Fastify's was set by its onRequest hook.
  const request = response.req as ExpressRequest | undefined;
  const route = request?.route?.path;
  if (typeof route === 'string' && span.attributes['http.route'] === undefined)
    nameAfterRoute(span, `${request!.baseUrl ?? ''}${route}`);
  // A response its client left before it began has no status: the one Node holds was never sent.
  if (response.headersSent) span.setAttribute('http.response.status_code', response.statusCode);
  if (response.statusCode >= 500) span.setStatus('error');
  if (!response.writableFinished) span.setAttribute('threadline.cancelled', true);
  span.end();
}
