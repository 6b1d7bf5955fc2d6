// W3C Trace Context: a version, a 16-byte trace id and an 8-byte parent id (neither all zeros), flags.
const VERSION_00 = /^00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$/;
// A later version (never ff) starts the same way; what follows its flags, if anything, after a dash.
const LATER_VERSION = /^(?!00|ff)[0-9a-f]{2}-((?!0{32})[0-9a-f]{32})-((?!0{16})[0-9a-f]{16})-([0-9a-f]{2})(?:-.*)?$/;

/**
 * An incoming `traceparent` header when it is valid, else `undefined`: as W3C Trace Context says, an
 * invalid one is ignored, never an error (the request then starts a trace of its own when spans are
 * recorded). One of a later version than 00 is read as the specification says, its trace id, parent id
 * and sampled flag, and passed on as version 00, the one this library writes.
 * @publicApi
 */
export function parseTraceparent(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  if (VERSION_00.test(value)) return value;
  const later = LATER_VERSION.exec(value);
  if (later === null) return undefined;
  const [, traceId, parentId, flags] = later;
  return `00-${traceId}-${parentId}-0${Number.parseInt(flags!, 16) & 1}`;
}
