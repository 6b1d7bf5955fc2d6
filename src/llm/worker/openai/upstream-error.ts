import { APIConnectionError, APIConnectionTimeoutError, APIError } from 'openai';
import { InvalidRequestError } from '../../protocol/invalid-request.error.js';

/**
 * An upstream server's failure as the error our client gets: the upstream's own 4xx passes through
 * (the request was bad there too); its 5xx becomes 502, a timeout 504 and an unreachable server 503,
 * each with a message that says it was the upstream.
 */
export function toUpstreamError(error: unknown, upstreamUrl: string): unknown {
  if (error instanceof APIConnectionTimeoutError) {
    return new InvalidRequestError(`The upstream model server at ${upstreamUrl} did not answer in time.`, undefined, 504, 'upstream_timeout');
  }
  if (error instanceof APIConnectionError) {
    return new InvalidRequestError(`The upstream model server at ${upstreamUrl} is unreachable: ${error.message}`, undefined, 503, 'upstream_unreachable');
  }
  if (error instanceof APIError) {
    // No status: the upstream sent an error event in the middle of its stream.
    if (error.status === undefined || error.status >= 500) {
      const status = error.status === undefined ? 'mid-stream' : String(error.status);
      return new InvalidRequestError(`The upstream model server at ${upstreamUrl} failed (${status}): ${error.message}`, undefined, 502, 'upstream_error');
    }
    // The upstream's `param` names a field of our request to it, not of the client's: left out.
    return new InvalidRequestError(`The upstream model server refused the request: ${error.message}`, undefined, error.status, 'upstream_rejected');
  }
  return error;
}
