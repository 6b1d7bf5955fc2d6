import { SpanKind, SpanStatusCode, TraceFlags } from '@opentelemetry/api';
import type { HrTime, SpanContext } from '@opentelemetry/api';
import { hrTimeDuration, millisToHrTime } from '@opentelemetry/core';
import type { InstrumentationScope } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace-base';
import type { FinishedSpan } from '../spans/span-types.js';

const KINDS = { server: SpanKind.SERVER, client: SpanKind.CLIENT, internal: SpanKind.INTERNAL } as const;
const STATUS_CODES = { unset: SpanStatusCode.UNSET, ok: SpanStatusCode.OK, error: SpanStatusCode.ERROR } as const;

/** The name the exported spans give as their instrumentation scope. */
export const INSTRUMENTATION_SCOPE: InstrumentationScope = { name: '@threadline/tracing' };

/** `span` as the SDK's exporters read a span: a sampled one (only sampled spans are converted). */
export function toReadableSpan(span: FinishedSpan, resource: Resource): ReadableSpan {
  const context: SpanContext = { traceId: span.traceId, spanId: span.spanId, traceFlags: TraceFlags.SAMPLED };
  const startTime = millisToHrTime(span.startTime);
  const endTime = millisToHrTime(span.endTime);
  const readable: ReadableSpan = {
    name: span.name,
    kind: KINDS[span.kind],
    spanContext: () => context,
    startTime,
    endTime,
    duration: hrTimeDuration(startTime, endTime),
    status:
      span.statusMessage === undefined
        ? { code: STATUS_CODES[span.status] }
        : { code: STATUS_CODES[span.status], message: span.statusMessage },
    // The request id is on every span already; set here too, so that no span can go out without it.
    attributes: { ...span.attributes, x_request_id: span.requestId },
    links: [],
    events: span.events.map(toTimedEvent),
    ended: true,
    resource,
    instrumentationScope: INSTRUMENTATION_SCOPE,
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
  };
  if (span.parentSpanId === undefined) return readable;
  const parent: SpanContext = { traceId: span.traceId, spanId: span.parentSpanId, traceFlags: TraceFlags.SAMPLED };
  return { ...readable, parentSpanContext: parent };
}

function toTimedEvent(event: FinishedSpan['events'][number]): TimedEvent {
  const time: HrTime = millisToHrTime(event.time);
  return event.attributes === undefined
    ? { name: event.name, time, droppedAttributesCount: 0 }
    : { name: event.name, time, attributes: { ...event.attributes }, droppedAttributesCount: 0 };
}
