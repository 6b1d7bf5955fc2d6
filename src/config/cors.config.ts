import { ConfigError } from './config.error.js';

/**
 * Which web pages may call the service from a browser (`CORS_ORIGINS`): any origin, or the listed ones.
 * An entry whose port is `*` matches that scheme and host on any port.
 */
export type CorsOrigins = { any: true } | { any: false; exact: string[]; anyPort: string[] };

/**
 * Pages served from this machine, on any port: a local tool or a notebook may call a local service,
 * while a page from the web, which a visitor's browser would otherwise let reach it, may not.
 */
export const DEFAULT_CORS_ORIGINS = 'http://localhost:*,http://127.0.0.1:*,http://[::1]:*';

const ORIGIN = /^([a-z][a-z0-9+.-]*):\/\/(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(?::(\d{1,5}|\*))?$/;
const DEFAULT_PORTS: Record<string, string> = { http: '80', https: '443' };

/** Reads `CORS_ORIGINS`; a value that is not `*` nor a list of origins throws, naming the variable. */
export function loadCorsOrigins(env: NodeJS.ProcessEnv): CorsOrigins {
  const value = env.CORS_ORIGINS ?? DEFAULT_CORS_ORIGINS;
  if (value.trim() === '*') return { any: true };
  const entries = value.split(',').map((entry) => entry.trim());
  const exact: string[] = [];
  const anyPort: string[] = [];
  for (const entry of entries) {
    const origin = normalize(entry);
    if (origin === undefined) {
      throw new ConfigError(
        'CORS_ORIGINS',
        'must be "*" or a comma list of origins scheme://host[:port] (port "*": any), such as ' +
          `http://localhost:3000, got ${JSON.stringify(value)}`,
      );
    }
    (origin.anyPort ? anyPort : exact).push(origin.origin);
  }
  return { any: false, exact, anyPort };
}

/**
 * An origin as browsers write it in the `Origin` header (lower case, no default port), or undefined when
 * `entry` is not one: a path, a query, credentials or a trailing slash make it a URL, not an origin.
 */
function normalize(entry: string): { origin: string; anyPort: boolean } | undefined {
  const match = ORIGIN.exec(entry.toLowerCase());
  if (match === null) return undefined;
  const [, scheme = '', host = '', port] = match;
  if (port !== undefined && port !== '*' && Number(port) > 65535) return undefined;
  let canonicalHost = host;
  if (scheme in DEFAULT_PORTS) {
    // The URL parser writes a host as browsers do (an IPv6 address compressed, say), or refuses it.
    try {
      canonicalHost = new URL(`${scheme}://${host}`).hostname;
    } catch {
      return undefined;
    }
  }
  if (port === '*') return { origin: `${scheme}://${canonicalHost}`, anyPort: true };
  const shown = port === undefined || port === DEFAULT_PORTS[scheme] ? '' : `:${Number(port)}`;
  return { origin: `${scheme}://${canonicalHost}${shown}`, anyPort: false };
}

/** Whether a page of `origin` (an `Origin` header's value) may call the service. */
export function isAllowedOrigin(origins: CorsOrigins, origin: string): boolean {
  if (origins.any) return true;
  if (origins.exact.includes(origin)) return true;
  const portless = /^(.*):\d{1,5}$/.exec(origin)?.[1] ?? origin;
  return origins.anyPort.includes(portless);
}
