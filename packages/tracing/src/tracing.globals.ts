import type { Logger } from 'pino';
import { randomUuid } from './random-uuid.js';
import { DEFAULT_REQUEST_ID_HEADER } from './request-tracing.constants.js';

/**
 * What decorators need but cannot inject, since they run outside Nest's DI: the logger and the id
 * generator of the `RequestTracingModule` in this process. Until the module starts, no lines are
 * written and ids are UUIDv4s.
 */
export const tracingGlobals: { logger: Logger | undefined; generateId: () => string; header: string } = {
  logger: undefined,
  generateId: randomUuid,
  header: DEFAULT_REQUEST_ID_HEADER,
};

/** A new request id from the running `RequestTracingModule`'s generator (a UUIDv4 before it starts). @publicApi */
export function generateRequestId(): string {
  return tracingGlobals.generateId();
}

/**
 * Whether lines at `level` are written, so that callers on a hot path can skip building a line no one
 * will read. `false` until `RequestTracingModule` starts.
 * @publicApi
 */
export function isLogLevelEnabled(level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal'): boolean {
  return tracingGlobals.logger?.isLevelEnabled(level) ?? false;
}
