import { DeadlineExceededError } from '@threadline/tracing';

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
