import { DeadlineExceededError } from '@threadline/tracing';
import { EndpointError } from './endpoint.error.js';
import type { EndpointErrorData } from './endpoint.error.js';

/**
 * Whether a request stopped for `reason` fails with it, for its caller to hear: its deadline passed, or
 * the server stopped it (a 5xx marked expected: a shutdown's). A client that left (a 499) or a caller's
 * own cancel is not told anything: nobody reads the answer then.
 */
export function isToldStopReason(reason: unknown): reason is Error {
  if (reason instanceof DeadlineExceededError) return true;
  const { status, expected } = (reason ?? {}) as { status?: unknown; expected?: unknown };
  return reason instanceof Error && typeof status === 'number' && status >= 500 && expected === true;
}

/**
 * What a call stopped for `reason` fails with, on every transport: the reason itself when its caller
 * must hear it (a deadline's 504, a shutdown's 503), else a 499 `cancelled` (nobody reads it then).
 */
export function stoppedCallFailure(
  reason: unknown,
  where: Pick<EndpointErrorData, 'requestId' | 'component' | 'endpoint'>,
): EndpointError {
  return isToldStopReason(reason)
    ? EndpointError.from(reason, where)
    : new EndpointError({ ...where, message: 'The request was cancelled.', status: 499, code: 'cancelled' });
}
