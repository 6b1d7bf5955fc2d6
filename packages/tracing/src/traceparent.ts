// W3C Trace Context: version 00, a 16-byte trace id and an 8-byte parent id, neither all zeros.
const TRACEPARENT = /^00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$/;

/**
 * An incoming `traceparent` header when it is valid, else `undefined`: as W3C Trace Context says, an
 * invalid one is ignored, never an error (the request then starts a trace of its own when spans are
 * recorded).
 * @publicApi
 */
export function parseTraceparent(value: unknown): string | undefined {
  return typeof value === 'string' && TRACEPARENT.test(value) ? value : undefined;
}
