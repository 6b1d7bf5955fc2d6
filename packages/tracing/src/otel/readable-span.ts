import { createTraceState, SpanKind, SpanStatusCode, TraceFlags } from '@opentelemetry/api';
import type { HrTime, Link, SpanContext, SpanStatus } from '@opentelemetry/api';
import { hrTimeDuration, millisToHrTime } from '@opentelemetry/core';
import type { InstrumentationScope } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace-base';
import type { FinishedSpan, SpanAttributes, SpanEvent } from '../spans/span-types.js';

const KINDS = { server: SpanKind.SERVER, client: SpanKind.CLIENT, internal: SpanKind.INTERNAL } as const;
const STATUS_CODES = { unset: SpanStatusCode.UNSET, ok: SpanStatusCode.OK, error: SpanStatusCode.ERROR } as const;
const NO_LINKS: Link[] = Object.freeze([]) as unknown as Link[];

/** The name the exported spans give as their instrumentation scope. */
export const INSTRUMENTATION_SCOPE: InstrumentationScope = { name: '@threadline/tracing' };

/** `span` as the SDK's exporters read a span: a sampled one (only sampled spans are converted). */
export function toReadableSpan(span: FinishedSpan, resource: Resource): ReadableSpan {
  return new ExportedSpan(span, resource);
}

/** The span `span` was made from by `toReadableSpan`, if it was. */
export function finishedSpanOf(span: ReadableSpan): FinishedSpan | undefined {
  return span instanceof ExportedSpan ? span.finished : undefined;
}

/**
 * A finished span in the shape of the SDK's `ReadableSpan`. The batch processor holds spans for seconds,
 * long enough for the garbage collector to move them out of its young generation, which costs for every
 * object each one holds: so this is one object over the span, and what the exporter reads (times as
 * `HrTime`, contexts, status) is made when it reads it, garbage at once.
 */
class ExportedSpan implements ReadableSpan {
  readonly ended = true;
  readonly droppedAttributesCount = 0;
  readonly droppedEventsCount = 0;
  readonly droppedLinksCount = 0;

  constructor(
    private readonly span: FinishedSpan,
    readonly resource: Resource,
  ) {}

  get finished(): FinishedSpan {
    return this.span;
  }

  get name(): string {
    return this.span.name;
  }

  get kind(): SpanKind {
    return KINDS[this.span.kind];
  }

  spanContext(): SpanContext {
    const { traceId, spanId, traceState } = this.span;
    const context: SpanContext = { traceId, spanId, traceFlags: TraceFlags.SAMPLED };
    if (traceState !== undefined) context.traceState = createTraceState(traceState);
    return context;
  }

  get parentSpanContext(): SpanContext | undefined {
    const { parentSpanId } = this.span;
    return parentSpanId === undefined
      ? undefined
      : {
          traceId: this.span.traceId,
          spanId: parentSpanId,
          traceFlags: TraceFlags.SAMPLED,
          isRemote: this.span.parentIsRemote === true,
        };
  }

  get startTime(): HrTime {
    return millisToHrTime(this.span.startTime);
  }

  get endTime(): HrTime {
    return millisToHrTime(this.span.endTime);
  }

  get duration(): HrTime {
    return hrTimeDuration(this.startTime, this.endTime);
  }

  get status(): SpanStatus {
    const { status, statusMessage } = this.span;
    return statusMessage === undefined
      ? { code: STATUS_CODES[status] }
      : { code: STATUS_CODES[status], message: statusMessage };
  }

  get attributes(): SpanAttributes {
    // The request id is on every span from its start; put back here should anything have changed it, so
    // that no span can go out without it.
    const { attributes, requestId } = this.span;
    return attributes.x_request_id === requestId ? attributes : { ...attributes, x_request_id: requestId };
  }

  get events(): TimedEvent[] {
    return this.span.events.map(toTimedEvent);
  }

  get links(): Link[] {
    return NO_LINKS;
  }

  get instrumentationScope(): InstrumentationScope {
    return INSTRUMENTATION_SCOPE;
  }
}

function toTimedEvent(event: SpanEvent): TimedEvent {
  const time: HrTime = millisToHrTime(event.time);
  return event.attributes === undefined
    ? { name: event.name, time, droppedAttributesCount: 0 }
    : { name: event.name, time, attributes: { ...event.attributes }, droppedAttributesCount: 0 };
}
