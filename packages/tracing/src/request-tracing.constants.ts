/** The header an incoming request id is read from and the response id is written to. @publicApi */
export const DEFAULT_REQUEST_ID_HEADER = 'x-request-id';

/** The longest incoming id that is accepted as it is. @publicApi */
export const DEFAULT_MAX_REQUEST_ID_LENGTH = 128;

/** The W3C Trace Context header that rides along with the request id. @publicApi */
export const TRACEPARENT_HEADER = 'traceparent';

/** The W3C Trace Context header of vendors' own trace state, passed on beside `traceparent`. @publicApi */
export const TRACESTATE_HEADER = 'tracestate';

/**
 * Metadata a decorator can set on a method (`Reflect.defineMetadata(TRACED_ENDPOINT_METADATA, true, fn)`)
 * so that `@Traced()` on its class traces it, as it does Nest routes and message handlers.
 * @publicApi
 */
export const TRACED_ENDPOINT_METADATA = 'threadline:traced-endpoint';
