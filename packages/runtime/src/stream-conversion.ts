import { isObservable } from 'rxjs';
import type { Observable } from 'rxjs';
import { AsyncQueue } from './async-queue.js';

/**
 * An endpoint's result as an async iterable: an async iterable as it is, an Observable's values, or a
 * Promise's (or plain value's) single value. Stopping the iteration unsubscribes from an Observable.
 */
export function toAsyncIterable(result: unknown): AsyncIterable<unknown> {
  if (result !== null && typeof result === 'object' && Symbol.asyncIterator in result) {
    return result as AsyncIterable<unknown>;
  }
  if (isObservable(result)) return observableToAsyncIterable(result);
  return (async function* single() {
    yield await result;
  })();
}

async function* observableToAsyncIterable<T>(source: Observable<T>): AsyncGenerator<T> {
  const queue = new AsyncQueue<T>();
  const subscription = source.subscribe({
    next: (value) => queue.push(value),
    error: (error: unknown) => queue.fail(error),
    complete: () => queue.end(),
  });
  try {
    yield* queue;
  } finally {
    subscription.unsubscribe();
  }
}

/**
 * The single item of a unary endpoint's stream. The stream is read to its end, so the endpoint finishes
 * normally rather than being cancelled after its answer.
 * @publicApi
 */
export async function unary<T>(stream: AsyncIterable<T>): Promise<T> {
  let first: { item: T } | undefined;
  for await (const item of stream) first ??= { item };
  if (first === undefined) throw new Error('The endpoint ended without a response.');
  return first.item;
}
