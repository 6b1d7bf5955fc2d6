// @threadline/tracing: request ids done right in any Nest app, on Fastify or Express.
// This is the public API, and all of it. `@threadline/tracing/internal` serves @threadline/runtime.

export { RequestTracingModule } from './request-tracing.module.js';
export type { RequestTracingModuleOptions } from './request-tracing.module-definition.js';
export type { LogFormat, RequestTracingOptions } from './request-tracing.options.js';
export type { ClientErrorBody, ClientErrorDetails } from './client-error.js';
export { tracingOptionsFromEnv } from './request-tracing.env.js';
export { DEFAULT_REQUEST_ID_HEADER } from './request-tracing.constants.js';

export { RequestIdService } from './request-id.service.js';
export {
  getCurrentRequestId,
  getRequestDeadline,
  getRequestSignal,
  isRequestCancelled,
  setRequestDeadline,
} from './request-context.js';
export { RequestId } from './request-id.decorator.js';
export { Traced } from './traced.decorator.js';
export { isExpectedError } from './expected-error.js';
export { RequestTracingMixin } from './request-tracing.mixin.js';
export type { RequestTracing } from './request-tracing.mixin.js';

export { createTracingLogger } from './tracing-logger.factory.js';
export { TracingLogger } from './tracing-logger.service.js';
export { addTracingMetadata, outboundTracingHeaders } from './outbound-headers.js';
export { pinoHttpTracingOptions } from './pino-http-tracing.js';
export { addSpanRecorder } from './spans/span-recorders.js';
export type {
  FinishedSpan,
  SpanAttributes,
  SpanEvent,
  SpanKind,
  SpanRecorder,
  SpanStatus,
} from './spans/span-types.js';
export { LogComponent } from './log-component.decorator.js';

export { ClientDisconnectedError, DeadlineExceededError } from './request-cancellation.js';
export {
  InvalidTracingOptionError,
  RequestTracingImportedTwiceError,
  UnsupportedClsSetupError,
  UnsupportedHttpPlatformError,
} from './tracing.errors.js';
