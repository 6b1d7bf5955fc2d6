import { isIP } from 'node:net';
import { envWholeNumber } from './env-number.js';
import { envFlag } from './env-flag.js';

/** The built-in request timeline (docs/configuration.md, "Request timeline"). */
export interface TimelineConfig {
  /** `THREADLINE_DEBUG_ROUTES`: the `/debug/requests` routes served and the spans of recent requests kept. */
  enabled: boolean;
  /** `THREADLINE_TIMELINE_REQUESTS`: how many recent requests each process keeps the spans of. */
  requests: number;
}

const MAX_REQUESTS = 100_000;

/**
 * On by default only where the service listens on a loopback address, since the routes show every
 * recent request to whoever reaches them; `THREADLINE_DEBUG_ROUTES` decides either way.
 */
export function loadTimelineConfig(env: NodeJS.ProcessEnv, host: string): TimelineConfig {
  const enabled = envFlag(env, 'THREADLINE_DEBUG_ROUTES', isLoopback(host));
  const requests = envWholeNumber(env, 'THREADLINE_TIMELINE_REQUESTS', 1000, 1, MAX_REQUESTS);
  return { enabled, requests };
}

/** `localhost`, `127.x.x.x` or `::1` (an IPv4 loopback written as IPv6 too). */
export function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (bare === 'localhost') return true;
  if (isIP(bare) === 4) return bare.startsWith('127.');
  if (isIP(bare) === 6) return bare === '::1' || bare.startsWith('::ffff:127.');
  return false;
}
