export { RequestTracingModule } from './request-tracing.module.js';
export type { RequestTracingModuleOptions } from './request-tracing.module-definition.js';
export { resolveTracingOptions, LOG_LEVELS } from './request-tracing.options.js';
export type { LogFormat, RequestTracingOptions, ResolvedTracingOptions } from './request-tracing.options.js';
export { tracingOptionsFromEnv, parseBoolean } from './request-tracing.env.js';
export {
  DEFAULT_MAX_REQUEST_ID_LENGTH,
  DEFAULT_REQUEST_ID_HEADER,
  TRACED_ENDPOINT_METADATA,
  TRACEPARENT_HEADER,
} from './request-tracing.constants.js';
export { checkIncomingRequestId, isValidRequestId } from './request-id.policy.js';
export type { IncomingIdVerdict, RejectionReason } from './request-id.policy.js';
export {
  createStore,
  deriveStore,
  getCurrentComponent,
  getCurrentRequestId,
  getCurrentStore,
  getCurrentTraceparent,
  getRequestSignal,
  isRequestCancelled,
  requestIdOf,
  runInStore,
  storeRunner,
} from './request-context.js';
export { generateRequestId, isLogLevelEnabled } from './tracing.globals.js';
export { randomUuid } from './random-uuid.js';
export type { RequestStore, StoreRunner } from './request-context.js';
export { ClientDisconnectedError, RequestCancellation } from './request-cancellation.js';
export { RequestIdService } from './request-id.service.js';
export { RequestIdResolver } from './request-id.resolver.js';
export { Traced } from './traced.decorator.js';
export { RequestId } from './request-id.decorator.js';
export { RequestTracingMixin } from './request-tracing.mixin.js';
export type { RequestTracing } from './request-tracing.mixin.js';
export { RequestTracingInterceptor } from './request-tracing.interceptor.js';
export { createTracingLogger } from './tracing-logger.factory.js';
export { TracingLogger } from './tracing-logger.service.js';
export { bindAsyncIterable, bindObservable } from './context-binding.js';
export type { IterationOutcome } from './context-binding.js';
export { defaultHeaderGetter, defaultHeaderSetter, readHeader } from './header-carrier.js';
export type { HeaderGetter, HeaderSetter } from './header-carrier.js';
export { InvalidTracingOptionError, UnsupportedHttpPlatformError } from './tracing.errors.js';
export { outboundTracingHeaders } from './outbound-headers.js';
export { parseTraceparent } from './traceparent.js';
export { LogComponent } from './log-component.decorator.js';
