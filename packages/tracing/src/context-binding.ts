import { Observable } from 'rxjs';
import { runInStore, snapshotContext } from './request-context.js';
import type { RequestStore, ContextSnapshot } from './request-context.js';

/** How an iteration ended: to its end, stopped by its consumer, or with an error. */
export type IterationOutcome = 'ended' | 'cancelled' | 'failed';

/**
 * Wraps an async iterable so that every step of it (`next`, `return`, `throw`) runs in `store`, whoever
 * pulls from it: Fastify's stream pump and a message publisher run in their own contexts, not the
 * request's, and the id would otherwise be lost (or another request's seen) mid-stream. `settled`, when
 * given, is told once how the iteration ended.
 */
export function bindAsyncIterable<T>(
  source: AsyncIterable<T>,
  store: RequestStore,
  settled?: (outcome: IterationOutcome, error?: unknown) => void,
): AsyncIterableIterator<T> {
  return new ContextBoundIterator(source, store, settled);
}

/** One iterator object rather than a generator around the source: each item crosses a single layer. */
class ContextBoundIterator<T> implements AsyncIterableIterator<T> {
  private iterator: AsyncIterator<T> | undefined;
  private done = false;
  private readonly run: ContextSnapshot;

  constructor(
    private readonly source: AsyncIterable<T>,
    store: RequestStore,
    private readonly settled?: (outcome: IterationOutcome, error?: unknown) => void,
  ) {
    this.run = snapshotContext(store);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(value?: unknown): Promise<IteratorResult<T>> {
    return this.observe(this.step(this.pullNext, value));
  }

  return(value?: unknown): Promise<IteratorResult<T>> {
    this.settle('cancelled');
    return this.step(this.pullReturn, value);
  }

  throw(error?: unknown): Promise<IteratorResult<T>> {
    return this.observe(this.step(this.pullThrow, error));
  }

  private readonly pullNext = (value: unknown) => this.open().next(value);
  private readonly pullReturn = (value: unknown) =>
    this.open().return?.(value) ?? Promise.resolve({ done: true as const, value: value as T });
  private readonly pullThrow = (error: unknown) => this.open().throw?.(error) ?? Promise.reject(error);

  private step(pull: (arg: unknown) => Promise<IteratorResult<T>>, arg: unknown): Promise<IteratorResult<T>> {
    try {
      return this.run(pull, arg);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  private open(): AsyncIterator<T> {
    return (this.iterator ??= this.source[Symbol.asyncIterator]());
  }

  private observe(step: Promise<IteratorResult<T>>): Promise<IteratorResult<T>> {
    if (this.settled === undefined || this.done) return step;
    return step.then(
      (result) => {
        if (result.done) this.settle('ended');
        return result;
      },
      (error: unknown) => {
        this.settle('failed', error);
        throw error;
      },
    );
  }

  private settle(outcome: IterationOutcome, error?: unknown): void {
    if (this.done) return;
    this.done = true;
    this.settled?.(outcome, error);
  }
}

/**
 * Wraps an Observable so that it is subscribed to in `store`: its producer, and everything the producer
 * schedules, sees the request's context. Unsubscribing from the result unsubscribes from `source` in
 * it too: a client gone unsubscribes from a socket's callback, and the source's teardown (`finalize`)
 * belongs to the request.
 */
export function bindObservable<T>(source: Observable<T>, store: RequestStore): Observable<T> {
  return runObservableInStore(() => source, store);
}

/** Like `bindObservable()`, for a source that must itself be created inside the context. */
export function runObservableInStore<T>(createSource: () => Observable<T>, store: RequestStore): Observable<T> {
  return new Observable<T>((subscriber) => {
    const inner = runInStore(store, () =>
      createSource().subscribe({
        next: (value) => subscriber.next(value),
        error: (error: unknown) => subscriber.error(error),
        complete: () => subscriber.complete(),
      }),
    );
    return () => runInStore(store, () => inner.unsubscribe());
  });
}

/**
 * Whether `value` is an async generator object. Other async iterables (a Node Readable) are left alone:
 * wrapping one would hide what it is from Fastify, which sends a Readable as a stream.
 */
export function isAsyncGenerator(value: unknown): value is AsyncGenerator<unknown> {
  return Object.prototype.toString.call(value) === '[object AsyncGenerator]';
}

/** Whether a method returned a Promise (or any object with a `then` method) rather than a stream or a value. */
export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && typeof value === 'object' && typeof (value as PromiseLike<unknown>).then === 'function';
}
