import {
  deriveStore,
  getCurrentStore,
  incomingTraceparentOf,
  requestIdOf,
  spanOf,
  tracestateOf,
} from '../request-context.js';
import type { RequestStore } from '../request-context.js';
import { newSpanId, newTraceId } from './span-ids.js';
import { isRecordingSpans } from './span-recorders.js';
import { Span } from './span.js';
import type { SpanAttributes, SpanKind } from './span-types.js';

/**
 * Starts a span in the request of `store` (the current context's by default), a child of the span
 * current there, or of the caller's `traceparent` when there is none, or the root of a new trace.
 * `undefined`, having allocated nothing, when no recorder is registered or there is no request.
 * `attributes` become the span's own (it adds `x_request_id` to them): pass an object made for it.
 */
export function startSpan(
  name: string,
  kind: SpanKind,
  attributes?: SpanAttributes,
  store: RequestStore | undefined = getCurrentStore(),
): Span | undefined {
  if (!isRecordingSpans() || store === undefined) return undefined;
  const requestId = requestIdOf(store);
  const current = spanOf(store);
  if (current !== undefined) {
    const { traceId, spanId, traceFlags, traceState } = current;
    return new Span(name, kind, newSpanId(), traceId, spanId, traceFlags, requestId, attributes, false, traceState);
  }
  const incoming = incomingTraceparentOf(store);
  // A stored traceparent was validated on the way in: `00-<trace id>-<parent id>-<flags>`.
  if (incoming !== undefined) {
    const traceId = incoming.slice(3, 35);
    const flags = incoming.slice(53, 55);
    const traceFlags = sampler === undefined ? flags : withSampledFlag(flags, sampler(traceId, incoming));
    const parentId = incoming.slice(36, 52);
    const traceState = tracestateOf(store);
    return new Span(name, kind, newSpanId(), traceId, parentId, traceFlags, requestId, attributes, true, traceState);
  }
  const traceId = newTraceId();
  const traceFlags = sampler === undefined || sampler(traceId, undefined) ? '01' : '00';
  return new Span(name, kind, newSpanId(), traceId, undefined, traceFlags, requestId, attributes);
}

/**
 * Whether a trace is sampled, decided where a request enters this process: from the trace id and the
 * caller's `traceparent` (none for a trace that starts here).
 */
export type EntrySampler = (traceId: string, incomingTraceparent: string | undefined) => boolean;

let sampler: EntrySampler | undefined;

/**
 * Makes `decide` set the sampled flag of the spans a request starts in this process, which they carry
 * and pass on in their `traceparent`; returns the function that removes it. The OTLP export sets its
 * sampler here, so that the process where a trace starts decides for every process it reaches. Without
 * one, a trace that starts here is sampled and a caller's flags are passed on as they came.
 */
export function setEntrySampler(decide: EntrySampler): () => void {
  sampler = decide;
  return () => {
    if (sampler === decide) sampler = undefined;
  };
}

/** `flags` with the sampled bit (the lowest) set or cleared, the other bits kept. */
function withSampledFlag(flags: string, sampled: boolean): string {
  const bits = Number.parseInt(flags, 16);
  return (sampled ? bits | 1 : bits & ~1).toString(16).padStart(2, '0');
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
