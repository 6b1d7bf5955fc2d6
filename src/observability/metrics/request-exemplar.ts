/** OpenMetrics caps an exemplar's label names and values at 128 characters in all. */
const EXEMPLAR_CHARACTERS = 128;

/**
 * The exemplar a latency observation carries: the request id (`request_id`) and, when the request has
 * a trace, its trace id (`trace_id`, read from the W3C `traceparent` the request passes on). A request
 * id too long to fit beside them is cut to the room left, so that an observation never fails for it.
 */
export function requestExemplar(requestId: string, traceparent: string | undefined): Record<string, string> {
  const traceId = traceparent?.slice(3, 35);
  const room = EXEMPLAR_CHARACTERS - 'request_id'.length - (traceId === undefined ? 0 : 'trace_id'.length + 32);
  const request_id = requestId.length <= room ? requestId : requestId.slice(0, room);
  return traceId === undefined ? { request_id } : { request_id, trace_id: traceId };
}
