import { recordSpan } from './span-recorders.js';
import type { FinishedSpan, SpanAttributes, SpanEvent, SpanKind, SpanStatus } from './span-types.js';

// Read once: the process's time origin does not change, and reading it is a call into Node each time.
const TIME_ORIGIN = performance.timeOrigin;

/** Now, in milliseconds since the epoch, at the resolution of `performance.now()`. */
export function spanClock(): number {
  return TIME_ORIGIN + performance.now();
}

/** A span's events while it has none: one array for all of them, never written to. */
const NO_EVENTS: readonly SpanEvent[] = Object.freeze([]);

/**
 * A span being recorded. Ending it hands a `FinishedSpan` to the recorders; changes after that are
 * ignored, and so is a second `end()`.
 */
export class Span {
  readonly startTime = spanClock();
  readonly attributes: SpanAttributes;
  private events: SpanEvent[] | undefined;
  private status: SpanStatus = 'unset';
  private statusMessage: string | undefined;
  private ended = false;
  private header: string | undefined;

  /**
   * `parentSpanId` is the parent's span id (the caller's, from its `traceparent`, for a request's first
   * span in this process), `traceFlags` the W3C trace flags, two hex digits: the lowest bit says whether
   * the trace is sampled.
   */
  constructor(
    public name: string,
    readonly kind: SpanKind,
    readonly spanId: string,
    readonly traceId: string,
    readonly parentSpanId: string | undefined,
    readonly traceFlags: string,
    readonly requestId: string,
    /** Taken, not copied: an object made for this span, which it writes to from then on. */
    attributes?: SpanAttributes,
    /** Whether the parent is another process's span (the caller's `traceparent`). */
    readonly parentIsRemote = false,
    /** The caller's W3C `tracestate`, carried by every span of its trace here. */
    readonly traceState?: string,
  ) {
    // The caller's object is taken as it is, not copied: every caller makes one for the span.
    this.attributes = attributes ?? {};
    this.attributes.x_request_id = requestId;
  }

  /** This span as the parent of the next hop, a W3C `traceparent`. */
  get traceparent(): string {
    return (this.header ??= `00-${this.traceId}-${this.spanId}-${this.traceFlags}`);
  }

  get isEnded(): boolean {
    return this.ended;
  }

  setAttribute(key: string, value: string | number | boolean): this {
    if (!this.ended) this.attributes[key] = value;
    return this;
  }

  setAttributes(attributes: SpanAttributes): this {
    if (!this.ended) Object.assign(this.attributes, attributes);
    return this;
  }

  addEvent(name: string, attributes?: SpanAttributes, time: number = spanClock()): this {
    if (!this.ended) (this.events ??= []).push(attributes === undefined ? { name, time } : { name, time, attributes });
    return this;
  }

  setStatus(status: SpanStatus, message?: string): this {
    if (!this.ended) {
      this.status = status;
      this.statusMessage = message;
    }
    return this;
  }

  /** Marks the span failed with `error`: its message as the status message, its code (or name) as `error.type`. */
  recordFailure(error: unknown): this {
    const code = (error as { code?: unknown } | undefined)?.code;
    const type = typeof code === 'string' ? code : error instanceof Error ? error.name : 'Error';
    this.setAttribute('error.type', type);
    return this.setStatus('error', error instanceof Error ? error.message : String(error));
  }

  end(endTime: number = spanClock()): void {
    if (this.ended) return;
    this.ended = true;
    const finished: FinishedSpan = {
      traceId: this.traceId,
      spanId: this.spanId,
      name: this.name,
      kind: this.kind,
      startTime: this.startTime,
      endTime,
      attributes: this.attributes,
      events: this.events ?? NO_EVENTS,
      status: this.status,
      requestId: this.requestId,
    };
    if (this.parentSpanId !== undefined) finished.parentSpanId = this.parentSpanId;
    if (this.parentIsRemote) finished.parentIsRemote = true;
    if (this.traceState !== undefined) finished.traceState = this.traceState;
    if (this.statusMessage !== undefined) finished.statusMessage = this.statusMessage;
    if (!isSampled(this.traceFlags)) finished.sampled = false;
    recordSpan(finished);
  }
}

/** Whether W3C trace flags (two hex digits) have the sampled bit, the lowest bit of the second digit, set. */
function isSampled(flags: string): boolean {
  const digit = flags.charCodeAt(1);
  // '0' to '9' are 0x30 to 0x39, even to odd as their values; 'a' (0x61) and 'A' (0x41) are 10: flipped.
  return ((digit <= 0x39 ? digit : digit + 1) & 1) === 1;
}
