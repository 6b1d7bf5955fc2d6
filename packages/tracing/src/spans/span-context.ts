import { deriveStore, getCurrentStore, incomingTraceparentOf, requestIdOf, spanOf } from '../request-context.js';
import type { RequestStore } from '../request-context.js';
import { newSpanId, newTraceId } from './span-ids.js';
import { isRecordingSpans } from './span-recorders.js';
import { Span } from './span.js';
import type { SpanParent } from './span.js';
import type { SpanAttributes, SpanKind } from './span-types.js';

/**
 * Starts a span in the request of `store` (the current context's by default), a child of the span
 * current there, or of the caller's `traceparent` when there is none, or the root of a new trace.
 * `undefined`, having allocated nothing, when no recorder is registered or there is no request.
 */
export function startSpan(
  name: string,
  kind: SpanKind,
  attributes?: SpanAttributes,
  store: RequestStore | undefined = getCurrentStore(),
): Span | undefined {
  if (!isRecordingSpans() || store === undefined) return undefined;
  return new Span(name, kind, newSpanId(), parentIn(store), requestIdOf(store), attributes);
}

function parentIn(store: RequestStore): SpanParent {
  const current = spanOf(store);
  if (current !== undefined) return current.asParent();
  const incoming = incomingTraceparentOf(store);
  // A stored traceparent was validated on the way in: `00-<trace id>-<parent id>-<flags>`.
  if (incoming !== undefined)
    return { traceId: incoming.slice(3, 35), parentSpanId: incoming.slice(36, 52), flags: incoming.slice(53, 55) };
  return { traceId: newTraceId(), flags: '01' };
}

/** The span current in the running request, to add attributes or events to it. */
export function getCurrentSpan(): Span | undefined {
  const store = getCurrentStore();
  return store === undefined ? undefined : spanOf(store);
}

/** A context of the same request as `store` whose current span is `span` (what runs in it are its children). */
export function storeWithSpan(store: RequestStore, span: Span): RequestStore {
  return deriveStore(store, { span });
}
