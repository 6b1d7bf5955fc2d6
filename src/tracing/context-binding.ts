import { Observable } from 'rxjs';
import { runInStore } from './request-context.js';
import type { RequestStore } from './request-context.js';

/**
 * Wraps an async iterable so that every step of it (`next`, `return`, `throw`) runs in `store`, whoever
 * pulls from it: Fastify's stream pump and a message publisher run in their own contexts, not the
 * request's, and the id would otherwise be lost (or another request's seen) mid-stream.
 */
export function bindAsyncIterable<T>(source: AsyncIterable<T>, store: RequestStore): AsyncIterableIterator<T> {
  let iterator: AsyncIterator<T> | undefined;
  const open = (): AsyncIterator<T> => (iterator ??= runInStore(store, () => source[Symbol.asyncIterator]()));
  return {
    next: (value?: unknown) => runInStore(store, () => open().next(value as never)),
    return: (value?: unknown) =>
      runInStore(store, () => open().return?.(value as never) ?? Promise.resolve({ done: true, value: undefined as T })),
    throw: (error?: unknown) => runInStore(store, () => open().throw?.(error) ?? Promise.reject(error)),
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}

/**
 * Wraps an Observable so that it is subscribed to in `store`: its producer, and everything the producer
 * schedules, sees the request's context. Unsubscribing from the result unsubscribes from `source`.
 */
export function bindObservable<T>(source: Observable<T>, store: RequestStore): Observable<T> {
  return runObservableInStore(() => source, store);
}

/** Like `bindObservable()`, for a source that must itself be created inside the context. */
export function runObservableInStore<T>(createSource: () => Observable<T>, store: RequestStore): Observable<T> {
  return new Observable<T>((subscriber) =>
    runInStore(store, () =>
      createSource().subscribe({
        next: (value) => subscriber.next(value),
        error: (error: unknown) => subscriber.error(error),
        complete: () => subscriber.complete(),
      }),
    ),
  );
}

/**
 * Whether `value` is an async generator object. Other async iterables (a Node Readable) are left alone:
 * wrapping one would hide what it is from Fastify, which sends a Readable as a stream.
 */
export function isAsyncGenerator(value: unknown): value is AsyncGenerator<unknown> {
  return Object.prototype.toString.call(value) === '[object AsyncGenerator]';
}
