/** Who a span speaks for: a request taken (`server`), a call made (`client`), or work inside one. @publicApi */
export type SpanKind = 'server' | 'client' | 'internal';

/** `error` when the work failed; `unset` otherwise, as OpenTelemetry leaves most spans. @publicApi */
export type SpanStatus = 'unset' | 'ok' | 'error';

/** A span's or an event's attributes: flat, and never the text of a prompt or a completion. @publicApi */
export type SpanAttributes = Record<string, string | number | boolean>;

/** A moment within a span. `time` is in milliseconds since the epoch, fractional. @publicApi */
export interface SpanEvent {
  name: string;
  time: number;
  attributes?: SpanAttributes;
}

/**
 * A span once ended, as recorders receive it. Times are in milliseconds since the epoch, fractional
 * (`performance.timeOrigin + performance.now()`). Every span carries its request's id, as `requestId`
 * and as the attribute `x_request_id`.
 * @publicApi
 */
export interface FinishedSpan {
  /** 32 lower-case hex digits. */
  traceId: string;
  /** 16 lower-case hex digits. */
  spanId: string;
  /** The parent's span id; for a request's first span, the caller's, from its `traceparent`. */
  parentSpanId?: string;
  /** Present when the parent is another process's span: the caller's, from its `traceparent`. */
  parentIsRemote?: true;
  /** The W3C `tracestate` its request brought with its `traceparent`, when it brought one. */
  traceState?: string;
  name: string;
  kind: SpanKind;
  startTime: number;
  endTime: number;
  attributes: SpanAttributes;
  /** In the order they were added; read-only (a span without events shares one empty array). */
  events: readonly SpanEvent[];
  status: SpanStatus;
  statusMessage?: string;
  requestId: string;
  /**
   * `false` when its trace is not sampled (the sampled flag of its `traceparent` is clear): the OTLP
   * export leaves it out; absent when it is sampled.
   */
  sampled?: false;
}

/** Receives every span of this process as it ends. `onEnd` runs on the request's path: keep it quick. @publicApi */
export interface SpanRecorder {
  onEnd(span: FinishedSpan): void;
}
