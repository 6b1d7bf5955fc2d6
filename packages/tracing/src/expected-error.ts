/**
 * Whether `error` is an expected refusal rather than a fault: an object with `expected: true`, as a
 * service marks a full queue, bad input or "nothing can serve this now". `@Traced()` logs such a
 * failure at debug (no stack) and `@threadline/runtime` carries the mark across calls, so that the one
 * place that answers the client logs it once.
 * @publicApi
 */
export function isExpectedError(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { expected?: unknown }).expected === true;
}
