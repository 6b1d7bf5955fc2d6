import pino from 'pino';
import type { Logger } from 'pino';
import { RequestIdResolver } from './request-id.resolver.js';
import { resolveTracingOptions } from './request-tracing.options.js';

/**
 * What decorators need but cannot inject, since they run outside Nest's DI: the logger and the id
 * resolver of the `RequestTracingModule` in this process. Until the module starts, no lines are
 * written and ids follow the default options.
 */
export const tracingGlobals: { logger: Logger | undefined; resolver: RequestIdResolver } = {
  logger: undefined,
  resolver: new RequestIdResolver(resolveTracingOptions(), pino({ enabled: false })),
};

/** A new request id from the running `RequestTracingModule`'s generator (a UUIDv4 before it starts). @publicApi */
export function generateRequestId(): string {
  return tracingGlobals.resolver.generate();
}

/**
 * Whether lines at `level` are written, so that callers on a hot path can skip building a line no one
 * will read. `false` until `RequestTracingModule` starts.
 * @publicApi
 */
export function isLogLevelEnabled(level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal'): boolean {
  return tracingGlobals.logger?.isLevelEnabled(level) ?? false;
}
