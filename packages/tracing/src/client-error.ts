import { STATUS_CODES } from 'node:http';

/**
 * A request the HTTP server refused before the application saw it: Node's parser found it malformed
 * or too large, it did not arrive in time, or it asked for an expectation the server cannot meet; or
 * Fastify could not route it (a malformed percent-encoding in its path, a path parameter too long).
 * @publicApi
 */
export interface ClientErrorDetails {
  /** 400, 408, 413, 414, 417 or 431 (or what Fastify's refusal says: 400, 414, 500). */
  status: number;
  /**
   * Why, as Node names it: `HPE_INVALID_METHOD`, `HPE_HEADER_OVERFLOW`, `ERR_HTTP_REQUEST_TIMEOUT`,
   * `EXPECTATION_FAILED`...; or Fastify, for a request it refused before routing it: `FST_ERR_BAD_URL`,
   * `FST_ERR_MAX_PARAM_LENGTH`.
   */
  reason: string;
  /** A sentence for the client; it never quotes the request's bytes. */
  message: string;
  /** The id in the response's id header. */
  requestId: string;
}

/** Builds the JSON body of a client-error response. @publicApi */
export type ClientErrorBody = (error: ClientErrorDetails) => unknown;

/** The reason given to a request with an `Expect` header other than `100-continue`. */
export const EXPECTATION_FAILED = 'EXPECTATION_FAILED';

/** Nest's error shape, as an `HttpException` would answer: `{ statusCode, error, message }`. */
export const defaultClientErrorBody: ClientErrorBody = ({ status, message }) => ({
  statusCode: status,
  error: STATUS_CODES[status],
  message,
});

/** An error Node's HTTP server hands to its `clientError` listeners. */
export interface HttpClientError extends Error {
  code?: string;
  /** The last packet read, where the parser stopped: never logged, never echoed. */
  rawPacket?: Buffer;
  bytesParsed?: number;
}

/** The status that answers `error`, as Node's own answer would, with 414 told apart from 431. */
export function clientErrorStatus(error: HttpClientError): number {
  switch (error.code) {
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return 408;
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return 413;
    case 'HPE_HEADER_OVERFLOW':
      return overflowedInRequestLine(error) ? 414 : 431;
    default:
      return 400;
  }
}

const MESSAGES: Record<number, string> = {
  408: 'The request did not arrive in time.',
  413: "The request's chunk extensions are too large.",
  414: "The request's URL is too long.",
  417: 'The only expectation supported is "Expect: 100-continue".',
  431: "The request's header fields are too large.",
};

/** Fastify's refusals of a request before any route or hook (its `frameworkErrors`), by code. */
const FRAMEWORK_MESSAGES: Record<string, string> = {
  FST_ERR_BAD_URL: "The request's path is not a valid URL: it holds a malformed percent-encoding.",
  FST_ERR_MAX_PARAM_LENGTH: "A part of the request's path is longer than the server allows.",
};

/** The client's sentence for a request Fastify refused before routing it, `reason` its error's code. */
export function frameworkErrorMessage(status: number, reason: string): string {
  return FRAMEWORK_MESSAGES[reason] ?? `${STATUS_CODES[status] ?? 'Error'}: the server could not route the request.`;
}

/** The client's sentence for `status`; a 400 names the parser's reason, a fixed code such as `HPE_INVALID_METHOD`. */
export function clientErrorMessage(status: number, reason: string): string {
  return MESSAGES[status] ?? `The request is not valid HTTP/1.1 (${reason}).`;
}

const REQUEST_LINE_START = /^[A-Z]+ /;

/**
 * Node counts the request line and the header fields against one limit and names both overflows
 * alike. The line the parser stopped in tells them apart, when it starts in the packet at hand:
 * a request line starts with its method.
 */
function overflowedInRequestLine({ rawPacket, bytesParsed }: HttpClientError): boolean {
  if (rawPacket === undefined || bytesParsed === undefined) return false;
  const lineStart = bytesParsed > 0 ? rawPacket.lastIndexOf(0x0a, bytesParsed - 1) + 1 : 0;
  return REQUEST_LINE_START.test(rawPacket.toString('latin1', lineStart, Math.min(lineStart + 24, rawPacket.length)));
}
