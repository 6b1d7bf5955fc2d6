import { getCurrentRequestId } from './request-context.js';
import { tracingGlobals } from './tracing.globals.js';

/**
 * The headers an outbound HTTP call should carry to pass the current request on: the request id under
 * the configured header name. Empty outside a request context. Spread it into `fetch`'s or an SDK's
 * per-request headers.
 * @publicApi
 */
export function outboundTracingHeaders(): Record<string, string> {
  const id = getCurrentRequestId();
  return id === undefined ? {} : { [tracingGlobals.header]: id };
}
