import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import { cancelStore, createStore, releaseCancellation } from './request-context.js';
import type { RequestStore } from './request-context.js';
import { ClientDisconnectedError } from './request-cancellation.js';
import { TRACEPARENT_HEADER } from './request-tracing.constants.js';
import { parseTraceparent } from './traceparent.js';

const RESPONSE_STORE = Symbol('threadline:response-store');

type TracedResponse = ServerResponse & { [RESPONSE_STORE]?: RequestStore };

/** What both HTTP ingresses (Fastify, Express) do with a request's context once its id is chosen. */

/** A new context for request `id`, in the trace context its headers carry. */
export function storeForRequest(id: string, headers: IncomingHttpHeaders): RequestStore {
  return createStore(id, undefined, parseTraceparent(headers[TRACEPARENT_HEADER]));
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
  else cancelStore(store, new ClientDisconnectedError());
}
