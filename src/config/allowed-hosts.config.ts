import { isIP } from 'node:net';
import { ConfigError } from './config.error.js';
import { isLoopback } from './timeline.config.js';

/**
 * The host names the service answers to (`ALLOWED_HOSTS`): any, or the loopback names and the listed
 * ones. An IP address is always answered: a page can reach the service under another name only through
 * a name, which is what DNS rebinding needs.
 */
export type AllowedHosts = { any: true } | { any: false; names: ReadonlySet<string> };

const HOST_NAME = /^(?=.{1,253}$)[a-z0-9_-]+(\.[a-z0-9_-]+)*$/;

/**
 * Reads `ALLOWED_HOSTS`. Unset, a service listening on a loopback address answers its loopback names
 * alone (a web page whose own name a rebinding DNS points at 127.0.0.1 is turned away), and one listening
 * on another address answers any name (it is reached through proxies and names of its operators' choice).
 */
export function loadAllowedHosts(env: NodeJS.ProcessEnv, host: string): AllowedHosts {
  const value = env.ALLOWED_HOSTS;
  if (value === undefined) return isLoopback(host) ? { any: false, names: new Set() } : { any: true };
  if (value.trim() === '*') return { any: true };
  const names = value.split(',').map((entry) => entry.trim().toLowerCase().replace(/\.$/, ''));
  for (const name of names) {
    if (!HOST_NAME.test(name)) {
      throw new ConfigError(
        'ALLOWED_HOSTS',
        `must be "*" or a comma list of host names without scheme or port, such as llm.internal, got ${JSON.stringify(value)}`,
      );
    }
  }
  return { any: false, names: new Set(names) };
}

/** Whether a request whose `Host` header is `hostHeader` is answered; one without it (HTTP/1.0) is. */
export function isAllowedHost(allowed: AllowedHosts, hostHeader: string | undefined): boolean {
  if (allowed.any || hostHeader === undefined) return true;
  const name = hostNameOf(hostHeader);
  if (isIP(name) !== 0 || name === 'localhost' || name.endsWith('.localhost')) return true;
  return allowed.names.has(name);
}

/** The name in a `Host` header, lower case, without its port, its IPv6 brackets or a trailing dot. */
export function hostNameOf(hostHeader: string): string {
  const lower = hostHeader.trim().toLowerCase();
  const name = lower.startsWith('[') ? lower.slice(1, lower.indexOf(']')) : lower.replace(/:\d*$/, '');
  return name.replace(/\.$/, '');
}
