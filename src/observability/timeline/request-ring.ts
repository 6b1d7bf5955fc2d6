import type { FinishedSpan, SpanRecorder } from '@threadline/tracing';

/** A request's spans beyond this many are dropped: a runaway request cannot grow its entry without end. */
export const MAX_SPANS_PER_REQUEST = 256;

/**
 * The spans of this process's most recent requests, grouped by request id: a `SpanRecorder` holding at
 * most `capacity` requests. A request enters with its first span to end; once the ring is full, the
 * oldest request leaves whole to make room. Memory is bounded by the count of requests (and of spans
 * per request), however many pass.
 */
export class RequestRing implements SpanRecorder {
  // A Map iterates in insertion order: its first key is the oldest request.
  private readonly requests = new Map<string, FinishedSpan[]>();

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('A request ring holds at least one request.');
  }

  onEnd(span: FinishedSpan): void {
    const spans = this.requests.get(span.requestId);
    if (spans !== undefined) {
      if (spans.length < MAX_SPANS_PER_REQUEST) spans.push(span);
      return;
    }
    if (this.requests.size >= this.capacity) this.requests.delete(this.requests.keys().next().value!);
    this.requests.set(span.requestId, [span]);
  }

  /** How many requests the ring holds now. */
  get size(): number {
    return this.requests.size;
  }

  /** The spans of request `id` recorded in this process, in the order they ended; none if it left or never came. */
  spansOf(id: string): readonly FinishedSpan[] {
    return this.requests.get(id) ?? [];
  }

  /** The requests held, newest first, with their spans. */
  *newestFirst(): Generator<[id: string, spans: readonly FinishedSpan[]]> {
    const entries = [...this.requests];
    for (let i = entries.length - 1; i >= 0; i--) yield entries[i]!;
  }
}
