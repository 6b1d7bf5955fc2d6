import type { FinishedSpan, SpanRecorder } from '@threadline/tracing';

/** A request's spans beyond this many are dropped: a runaway request cannot grow its entry without end. */
export const MAX_SPANS_PER_REQUEST = 256;

/** One request in the ring: its id, its trace, and its spans in the order they ended. */
export interface RingEntry {
  readonly id: string;
  readonly traceId: string;
  readonly spans: FinishedSpan[];
}

/**
 * The spans of this process's most recent requests, one entry per request: a `SpanRecorder` holding at
 * most `capacity` requests. A request is its id and its trace: clients reuse ids (a fixed one in a
 * script, a page reloaded), and each request has a trace of its own, so two requests of one id stay
 * apart. A request enters with its first span to end; once the ring is full, the oldest request leaves
 * whole to make room. Memory is bounded by the count of requests (and of spans per request), however
 * many pass.
 */
export class RequestRing implements SpanRecorder {
  // A Map iterates in insertion order: its first entry is the oldest request.
  private readonly requests = new Map<string, RingEntry>();
  /** The entries of each request id, oldest first. */
  private readonly byId = new Map<string, RingEntry[]>();

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('A request ring holds at least one request.');
  }

  onEnd(span: FinishedSpan): void {
    // Neither a trace id nor a request id has a space in it.
    const key = `${span.traceId} ${span.requestId}`;
    const entry = this.requests.get(key);
    if (entry !== undefined) {
      if (entry.spans.length < MAX_SPANS_PER_REQUEST) entry.spans.push(span);
      return;
    }
    if (this.requests.size >= this.capacity) this.evictOldest();
    const added: RingEntry = { id: span.requestId, traceId: span.traceId, spans: [span] };
    this.requests.set(key, added);
    const ofId = this.byId.get(added.id);
    if (ofId === undefined) this.byId.set(added.id, [added]);
    else ofId.push(added);
  }

  /** How many requests the ring holds now. */
  get size(): number {
    return this.requests.size;
  }

  /** The requests of id `id` recorded in this process, oldest first; none if they left or never came. */
  entriesOf(id: string): readonly RingEntry[] {
    return this.byId.get(id) ?? [];
  }

  /** The requests held, newest first. */
  *newestFirst(): Generator<RingEntry> {
    const entries = [...this.requests.values()];
    for (let i = entries.length - 1; i >= 0; i--) yield entries[i]!;
  }

  private evictOldest(): void {
    const [key, oldest] = this.requests.entries().next().value!;
    this.requests.delete(key);
    const ofId = this.byId.get(oldest.id)!;
    // The oldest request is its id's oldest too.
    ofId.shift();
    if (ofId.length === 0) this.byId.delete(oldest.id);
  }
}
