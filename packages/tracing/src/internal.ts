// Not public API: the entry @threadline/runtime and the reference service reach the request context
// through. Names here may change in any release; applications import from '@threadline/tracing'.

export { resolveTracingOptions, LOG_LEVELS } from './request-tracing.options.js';
export type { ResolvedTracingOptions } from './request-tracing.options.js';
export { parseBooleanText } from './request-tracing.env.js';
export { TRACED_ENDPOINT_METADATA, TRACEPARENT_HEADER, TRACESTATE_HEADER } from './request-tracing.constants.js';
export { checkIncomingRequestId, isValidRequestId } from './request-id.policy.js';
export type { IncomingIdVerdict, RejectionReason } from './request-id.policy.js';
export {
  ENTERED_CONTEXT_ENDS_WITH_CALLBACK,
  cancelStore,
  createStore,
  deadlineOf,
  deriveStore,
  getCurrentComponent,
  getCurrentStore,
  getCurrentTraceparent,
  outboundTraceparentOf,
  tracestateOf,
  requestIdOf,
  requestSignalOf,
  onRequestCancelled,
  runInStore,
  setDeadlineOf,
  snapshotContext,
  cancelledFor,
} from './request-context.js';
export type { RequestStore, ContextSnapshot } from './request-context.js';
export { generateRequestId, isLogLevelEnabled } from './tracing.globals.js';
export { randomUuid } from './random-uuid.js';
export { SpanNames } from './spans/span-names.js';
export { withoutCredentials } from './url-credentials.js';
export { RepeatedFailureLines } from './repeated-failure-lines.js';
export { RequestCancellation } from './request-cancellation.js';
export { RequestIdResolver } from './request-id.resolver.js';
export { RpcIngressInterceptor } from './rpc-ingress.interceptor.js';
export { bindAsyncIterable, bindObservable, isThenable } from './context-binding.js';
export type { IterationOutcome } from './context-binding.js';
export { defaultHeaderGetter, defaultHeaderSetter, readHeader } from './header-carrier.js';
export type { HeaderGetter, HeaderSetter } from './header-carrier.js';
export { parseTraceparent, parseTracestate } from './traceparent.js';
export { Span, spanClock } from './spans/span.js';
export { getCurrentSpan, startSpan, storeWithSpan } from './spans/span-context.js';
export { isRecordingSpans } from './spans/span-recorders.js';
export {
  END_SPAN_WITH_ITERATION,
  IterationSpans,
  endSpanWithIterator,
  unwrapSpanEnding,
} from './spans/span-iterator.js';
export type { SpanEndingHost, SpanItemObserver } from './spans/span-iterator.js';
// The OTEL_* variables read without loading OpenTelemetry: the service checks them at start-up.
export { OtlpConfigError, readOtlpExportConfig } from './otel/otlp-config.js';
export type { OtlpExportConfig } from './otel/otlp-config.js';
