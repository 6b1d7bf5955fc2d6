import type { FinishedSpan, SpanAttributes, SpanEvent, SpanKind, SpanStatus } from '@threadline/tracing';

const PARENT_IS_REMOTE = 1;
const NOT_SAMPLED = 2;

/**
 * One request's spans as the ring holds them: packed, field by field, into two arrays, and unpacked into
 * `FinishedSpan`s when read. The ring holds its requests for long enough that the collector moves them
 * out of its young generation and later marks them there, at a cost for every object; a span kept as it
 * ended is some ten objects (the span, its attributes and their property array, its times, its
 * events), packed it is a few slots in two arrays. Every span of an entry has its `traceId` and
 * `requestId`, which are not repeated.
 */
export class RequestSpans {
  /** How many spans are packed. */
  count = 0;
  /**
   * For each span, in the order they ended: name, kind, span id, parent span id, flags, trace state,
   * status, status message, the count of attributes and then each key and value, the count of events and
   * then each event's name and attributes.
   */
  private fields: unknown[] = [];
  /** Each span's start and end, then its events' times: numbers alone, kept unboxed by V8. */
  private times: number[] = [];

  constructor(
    readonly id: string,
    readonly traceId: string,
  ) {}

  add(span: FinishedSpan): void {
    const { fields, times } = this;
    const flags = (span.parentIsRemote === true ? PARENT_IS_REMOTE : 0) | (span.sampled === false ? NOT_SAMPLED : 0);
    fields.push(span.name, span.kind, span.spanId, span.parentSpanId, flags, span.traceState, span.status);
    fields.push(span.statusMessage);
    times.push(span.startTime, span.endTime);
    const countAt = fields.push(0) - 1;
    let count = 0;
    for (const key in span.attributes) {
      fields.push(key, span.attributes[key]);
      count++;
    }
    fields[countAt] = count;
    fields.push(span.events.length);
    for (const event of span.events) {
      fields.push(event.name, event.attributes);
      times.push(event.time);
    }
    this.count++;
    // A span without a parent in this process (the HTTP request's, or a call's from another process)
    // is the last of its request here, most often: the arrays, grown by half again each time they were
    // full, are copied to their size, the size they are kept at.
    if (span.parentSpanId === undefined || span.parentIsRemote === true) {
      this.fields = fields.slice();
      this.times = times.slice();
    }
  }

  /** The spans, unpacked afresh at each read, in the order they ended. */
  get spans(): FinishedSpan[] {
    const { fields, times, traceId, id: requestId } = this;
    const spans: FinishedSpan[] = [];
    let at = 0;
    let timeAt = 0;
    for (let n = 0; n < this.count; n++) {
      const name = fields[at++] as string;
      const kind = fields[at++] as SpanKind;
      const spanId = fields[at++] as string;
      const parentSpanId = fields[at++] as string | undefined;
      const flags = fields[at++] as number;
      const traceState = fields[at++] as string | undefined;
      const status = fields[at++] as SpanStatus;
      const statusMessage = fields[at++] as string | undefined;
      const attributeCount = fields[at++] as number;
      const attributes: SpanAttributes = {};
      for (let i = 0; i < attributeCount; i++, at += 2)
        attributes[fields[at] as string] = fields[at + 1] as SpanAttributes[string];
      const startTime = times[timeAt++]!;
      const endTime = times[timeAt++]!;
      const eventCount = fields[at++] as number;
      const events: SpanEvent[] = [];
      for (let i = 0; i < eventCount; i++, at += 2) {
        const eventAttributes = fields[at + 1] as SpanAttributes | undefined;
        const event: SpanEvent = { name: fields[at] as string, time: times[timeAt++]! };
        if (eventAttributes !== undefined) event.attributes = { ...eventAttributes };
        events.push(event);
      }
      const span: FinishedSpan = {
        traceId,
        spanId,
        name,
        kind,
        startTime,
        endTime,
        attributes,
        events,
        status,
        requestId,
      };
      if (parentSpanId !== undefined) span.parentSpanId = parentSpanId;
      if ((flags & PARENT_IS_REMOTE) !== 0) span.parentIsRemote = true;
      if (traceState !== undefined) span.traceState = traceState;
      if (statusMessage !== undefined) span.statusMessage = statusMessage;
      if ((flags & NOT_SAMPLED) !== 0) span.sampled = false;
      spans.push(span);
    }
    return spans;
  }
}
