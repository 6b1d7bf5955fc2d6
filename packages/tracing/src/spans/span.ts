import { recordSpan } from './span-recorders.js';
import type { FinishedSpan, SpanAttributes, SpanEvent, SpanKind, SpanStatus } from './span-types.js';

// Read once: the process's time origin does not change, and reading it is a call into Node each time.
const TIME_ORIGIN = performance.timeOrigin;

/** Now, in milliseconds since the epoch, at the resolution of `performance.now()`. */
export function spanClock(): number {
  return TIME_ORIGIN + performance.now();
}

/** Where a span sits in its trace: the trace, its parent, and the parent's trace flags. */
export interface SpanParent {
  traceId: string;
  parentSpanId?: string;
  /** Two hex digits, the W3C trace flags: the lowest bit says whether the trace is sampled. */
  flags: string;
}

/**
 * A span being recorded. Ending it hands a `FinishedSpan` to the recorders; changes after that are
 * ignored, and so is a second `end()`.
 */
export class Span {
  readonly startTime = spanClock();
  readonly attributes: SpanAttributes;
  private readonly events: SpanEvent[] = [];
  private status: SpanStatus = 'unset';
  private statusMessage: string | undefined;
  private ended = false;
  private header: string | undefined;

  constructor(
    public name: string,
    readonly kind: SpanKind,
    readonly spanId: string,
    private readonly parent: SpanParent,
    readonly requestId: string,
    attributes?: SpanAttributes,
  ) {
    this.attributes = { x_request_id: requestId, ...attributes };
  }

  get traceId(): string {
    return this.parent.traceId;
  }

  /** This span as the parent of the next hop, a W3C `traceparent`. */
  get traceparent(): string {
    return (this.header ??= `00-${this.parent.traceId}-${this.spanId}-${this.parent.flags}`);
  }

  /** Where a child of this span sits. */
  asParent(): SpanParent {
    return { traceId: this.parent.traceId, parentSpanId: this.spanId, flags: this.parent.flags };
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
    if (!this.ended) this.events.push(attributes === undefined ? { name, time } : { name, time, attributes });
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
      traceId: this.parent.traceId,
      spanId: this.spanId,
      name: this.name,
      kind: this.kind,
      startTime: this.startTime,
      endTime,
      attributes: this.attributes,
      events: this.events,
      status: this.status,
      requestId: this.requestId,
    };
    if (this.parent.parentSpanId !== undefined) finished.parentSpanId = this.parent.parentSpanId;
    if (this.statusMessage !== undefined) finished.statusMessage = this.statusMessage;
    if (!isSampled(this.parent.flags)) finished.sampled = false;
    recordSpan(finished);
  }
}

/** Whether W3C trace flags (two hex digits) have the sampled bit set. */
function isSampled(flags: string): boolean {
  return (Number.parseInt(flags, 16) & 1) === 1;
}
