import type { Level } from 'pino';
import { tracingGlobals } from './tracing.globals.js';

type Constructor<T = object> = abstract new (...args: any[]) => T;

/** What `RequestTracingMixin` adds to a class. @publicApi */
export interface RequestTracing {
  /** As `RequestIdService.ensure()`: `id` when valid (a bad one is replaced), else the current request's, else a new one. */
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
      return tracingGlobals.resolver.ensure(id);
    }

    logWithRequestId(level: Level, message: string, fields: Record<string, unknown> = {}): void {
      tracingGlobals.logger?.[level]({ ...fields, context: this.constructor.name }, message);
    }
  }
  return WithRequestTracing;
}
