import type { Level } from 'pino';
import { getCurrentRequestId } from './request-context.js';
import { isValidRequestId } from './request-id.policy.js';
import { DEFAULT_MAX_REQUEST_ID_LENGTH } from './request-tracing.constants.js';
import { tracingGlobals } from './tracing.globals.js';

type Constructor<T = object> = abstract new (...args: any[]) => T;

/** What `RequestTracingMixin` adds to a class. @publicApi */
export interface RequestTracing {
  /** `id` when it is a valid request id, else the current request's, else a new one. */
  ensureRequestId(id?: string): string;
  /** Writes one log line at `level` with the current request's id and this class's name. */
  logWithRequestId(level: Level, message: string, fields?: Record<string, unknown>): void;
}

/**
 * Adds `ensureRequestId()` and `logWithRequestId()` to a class, for code that prefers methods on `this`
 * to an injected `RequestIdService` (the shape of the Python SDK's `RequestTracingMixin`).
 * @publicApi
 */
export function RequestTracingMixin<TBase extends Constructor>(Base?: TBase): TBase & Constructor<RequestTracing> {
  const Root = (Base ?? class {}) as TBase;
  abstract class WithRequestTracing extends Root implements RequestTracing {
    ensureRequestId(id?: string): string {
      if (isValidRequestId(id, DEFAULT_MAX_REQUEST_ID_LENGTH)) return id;
      return getCurrentRequestId() ?? tracingGlobals.generateId();
    }

    logWithRequestId(level: Level, message: string, fields: Record<string, unknown> = {}): void {
      tracingGlobals.logger?.[level]({ ...fields, context: this.constructor.name }, message);
    }
  }
  return WithRequestTracing;
}
