import { isObservable, Observable } from 'rxjs';
import { bindAsyncIterable, bindObservable, isAsyncGenerator, isThenable } from './context-binding.js';
import { isExpectedError } from './expected-error.js';
import { createStore, getCurrentStore, isRequestCancelled, runInStore } from './request-context.js';
import type { RequestStore } from './request-context.js';
import { fillRequestIdParams } from './request-id-params.js';
import { tracingGlobals } from './tracing.globals.js';
import { TRACED_WRAPPER } from './tracing.internal-constants.js';

type AnyMethod = (this: unknown, ...args: unknown[]) => unknown;

/** Whether `fn` is already a `@Traced()` wrapper (so that class and method decorators never stack). */
export function isTracedWrapper(fn: unknown): boolean {
  return typeof fn === 'function' && (fn as { [TRACED_WRAPPER]?: boolean })[TRACED_WRAPPER] === true;
}

/**
 * Wraps `method` so that every call runs in a request context (the caller's, or a new one when there is
 * none: a timer, a CLI command), fills its `@RequestId()` parameters, binds a returned async generator or
 * Observable to that context, and logs start, end, duration and failure. Errors are logged and rethrown;
 * an expected refusal (`isExpectedError`) only at debug.
 */
export function traceMethod(method: AnyMethod, label: string, requestIdParams: readonly number[]): AnyMethod {
  const traced = {
    [method.name](this: unknown, ...args: unknown[]): unknown {
      const store = getCurrentStore() ?? createStore(entryId(args, requestIdParams));
      return runInStore(store, () =>
        callTraced(method, this, fillRequestIdParams(args, requestIdParams), label, store),
      );
    },
  }[method.name] as AnyMethod;
  Object.defineProperty(traced, TRACED_WRAPPER, { value: true });
  return traced;
}

/** The id for a context a traced method opens itself: the id the caller passed, if valid, else a new one. */
function entryId(args: unknown[], requestIdParams: readonly number[]): string {
  const passed = requestIdParams
    .map((index) => args[index])
    .find((value) => value !== undefined && value !== null && value !== '');
  return tracingGlobals.resolver.ensure(passed);
}

function callTraced(method: AnyMethod, self: unknown, args: unknown[], label: string, store: RequestStore): unknown {
  const started = performance.now();
  const log = tracingGlobals.logger;
  const debug = log?.isLevelEnabled('debug') === true;
  if (debug) log.debug({ method: label }, `${label} started`);
  // A stream ends or is cancelled from its consumer's context: log in the call's own.
  const ended = (outcome: string) => {
    if (debug) {
      runInStore(store, () =>
        log.debug({ method: label, durationMs: elapsed(started), outcome }, `${label} ${outcome}`),
      );
    }
  };
  const failed = (error: unknown) => {
    runInStore(store, () => {
      // A call that fails because its request was cancelled did what it should: stop. An expected
      // refusal (a full queue, bad input) is the caller's to report, once.
      if (isRequestCancelled()) ended('cancelled');
      else if (isExpectedError(error)) ended('refused');
      else log?.error({ method: label, durationMs: elapsed(started), err: error }, `${label} failed`);
    });
  };
  let result: unknown;
  try {
    result = method.apply(self, args);
  } catch (error) {
    failed(error);
    throw error;
  }
  if (isAsyncGenerator(result)) {
    return bindAsyncIterable(result, store, (outcome, error) =>
      outcome === 'failed' ? failed(error) : ended(outcome),
    );
  }
  if (isObservable(result)) return traceObservable(bindObservable(result, store), ended, failed);
  if (isThenable(result)) {
    return result.then(
      (value) => {
        ended('ended');
        return value;
      },
      (error: unknown) => {
        failed(error);
        throw error;
      },
    );
  }
  ended('ended');
  return result;
}

function traceObservable<T>(
  source: Observable<T>,
  ended: (outcome: string) => void,
  failed: (error: unknown) => void,
): Observable<T> {
  return new Observable<T>((subscriber) => {
    let settled = false;
    const inner = source.subscribe({
      next: (value) => subscriber.next(value),
      error: (error: unknown) => {
        settled = true;
        failed(error);
        subscriber.error(error);
      },
      complete: () => {
        settled = true;
        ended('ended');
        subscriber.complete();
      },
    });
    return () => {
      inner.unsubscribe();
      if (!settled) ended('cancelled');
    };
  });
}

function elapsed(started: number): number {
  return Math.round((performance.now() - started) * 1000) / 1000;
}
