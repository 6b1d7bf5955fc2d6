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

// W3C Trace Context `tracestate`: list members `key=value`, a key a simple one or `tenant@system`.
const TRACESTATE_MEMBER =
  /^(?:[a-z0-9][_0-9a-z\-*/]{0,255}|[a-z0-9][_0-9a-z\-*/]{0,240}@[a-z][_0-9a-z\-*/]{0,13})=[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$/;
const MAX_TRACESTATE_MEMBERS = 32;
const MAX_TRACESTATE_LENGTH = 512;

/**
 * An incoming `tracestate` (one header, or several, joined as one list) when it is valid, its members
 * joined by commas, else `undefined`: up to 32 members of distinct keys, 512 characters at most (what
 * the specification asks every vendor to pass on). It is passed on as it came, beside a valid
 * `traceparent`: this library adds no member of its own.
 * @publicApi
 */
export function parseTracestate(value: unknown): string | undefined {
  const list = Array.isArray(value) ? value.join(',') : value;
  if (typeof list !== 'string' || list.length > MAX_TRACESTATE_LENGTH) return undefined;
  const members = list
    .split(',')
    .map((member) => member.trim())
    .filter((member) => member.length > 0);
  if (members.length === 0 || members.length > MAX_TRACESTATE_MEMBERS) return undefined;
  const keys = new Set<string>();
  for (const member of members) {
    if (!TRACESTATE_MEMBER.test(member)) return undefined;
    const key = member.slice(0, member.indexOf('='));
    if (keys.has(key)) return undefined;
    keys.add(key);
  }
  return members.join(',');
}
