import { getCurrentStore, outboundTraceparentOf, requestIdOf, tracestateOf } from './request-context.js';
import { TRACEPARENT_HEADER, TRACESTATE_HEADER } from './request-tracing.constants.js';
import { tracingGlobals } from './tracing.globals.js';

/**
 * The headers an outbound call should carry to pass the current request on: the request id under the
 * configured header name, and the W3C `traceparent` of the current span when spans are recorded (else
 * the caller's, when it sent a valid one), with the caller's `tracestate` as it came. Empty outside a request
 * context. Spread it into `fetch`'s or an SDK's per-request headers, or a message's headers.
 * @publicApi
 */
export function outboundTracingHeaders(): Record<string, string> {
  const store = getCurrentStore();
  if (store === undefined) return {};
  const headers: Record<string, string> = { [tracingGlobals.resolver.header]: requestIdOf(store) };
  const traceparent = outboundTraceparentOf(store);
  if (traceparent === undefined) return headers;
  headers[TRACEPARENT_HEADER] = traceparent;
  const tracestate = tracestateOf(store);
  if (tracestate !== undefined) headers[TRACESTATE_HEADER] = tracestate;
  return headers;
}

/**
 * A `ClientProxy#setOnDispatchHook()` hook for @nestjs/microservices transports that carry a packet's
 * `metadata` rather than headers (TCP, Redis): adds `outboundTracingHeaders()` to each packet sent in a
 * request, which the RPC ingress (`forRoot({ rpc: true })`) of the receiving app reads as headers.
 * `client.setOnDispatchHook(addTracingMetadata)`.
 * @publicApi
 */
export function addTracingMetadata(packet: { metadata?: Record<string, string> }): void {
  const headers = outboundTracingHeaders();
  for (const name in headers) (packet.metadata ??= {})[name] = headers[name]!;
}
