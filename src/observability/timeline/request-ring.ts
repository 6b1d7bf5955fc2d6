import type { FinishedSpan, SpanRecorder } from '@threadline/tracing';
import { RequestSpans } from './request-spans.js';

/** A request's spans beyond this many are dropped: a runaway request cannot grow its entry without end. */
export const MAX_SPANS_PER_REQUEST = 256;

/**
 * The spans of this process's most recent requests, one entry per request: a `SpanRecorder` holding at
 * most `capacity` requests. A request is its id and its trace: clients reuse ids (a fixed one in a
 * script, a page reloaded), and each request has a trace of its own, so two requests of one id stay
 * apart. A request enters with its first span to end; once the ring is full, the oldest request leaves
 * whole to make room. Memory is bounded by the count of requests (and of spans per request), however
 * many pass.
 */
export class RequestRing implements SpanRecorder {
  /** The requests in the order they came: a Set iterates in insertion order, its first is the oldest. */
  private readonly order = new Set<RequestSpans>();
  /**
   * The request of each trace, or its requests by id when several share it (a caller that sent one
   * `traceparent` with each). Looked up by the trace id and then the request id, each the same string on
   * every span of a request, whose hash is worked out once: a key made of the two would be built and
   * hashed anew for every span.
   */
  private readonly byTrace = new Map<string, RequestSpans | Map<string, RequestSpans>>();
  /** The entries of each request id, oldest first. */
  private readonly byId = new Map<string, RequestSpans[]>();

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('A request ring holds at least one request.');
  }

  onEnd(span: FinishedSpan): void {
    const entry = this.entryOf(span.traceId, span.requestId);
    if (entry !== undefined) {
      if (entry.count < MAX_SPANS_PER_REQUEST) entry.add(span);
      return;
    }
    if (this.order.size >= this.capacity) this.evictOldest();
    const added = new RequestSpans(span.requestId, span.traceId);
    added.add(span);
    this.order.add(added);
    this.addToTrace(added);
    const ofId = this.byId.get(added.id);
    if (ofId === undefined) this.byId.set(added.id, [added]);
    else ofId.push(added);
  }

  /** How many requests the ring holds now. */
  get size(): number {
    return this.order.size;
  }

  /** The requests of id `id` recorded in this process, oldest first; none if they left or never came. */
  entriesOf(id: string): readonly RequestSpans[] {
    return this.byId.get(id) ?? [];
  }

  /** The requests held, newest first. */
  *newestFirst(): Generator<RequestSpans> {
    const entries = [...this.order];
    for (let i = entries.length - 1; i >= 0; i--) yield entries[i]!;
  }

  private entryOf(traceId: string, id: string): RequestSpans | undefined {
    const held = this.byTrace.get(traceId);
    if (held instanceof Map) return held.get(id);
    return held?.id === id ? held : undefined;
  }

  private addToTrace(entry: RequestSpans): void {
    const held = this.byTrace.get(entry.traceId);
    if (held === undefined) this.byTrace.set(entry.traceId, entry);
    else if (held instanceof Map) held.set(entry.id, entry);
    else
      this.byTrace.set(
        entry.traceId,
        new Map([
          [held.id, held],
          [entry.id, entry],
        ]),
      );
  }

  private evictOldest(): void {
    let oldest: RequestSpans | undefined;
    for (oldest of this.order) break;
    const { id, traceId } = oldest!;
    this.order.delete(oldest!);
    const held = this.byTrace.get(traceId)!;
    if (!(held instanceof Map)) this.byTrace.delete(traceId);
    else if (held.delete(id) && held.size === 0) this.byTrace.delete(traceId);
    const ofId = this.byId.get(id)!;
    // The oldest request is its id's oldest too.
    ofId.shift();
    if (ofId.length === 0) this.byId.delete(id);
  }
}
