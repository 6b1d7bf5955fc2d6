import { Observable, of, throwError } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { toAsyncIterable, unary } from './stream-conversion.js';

async function collect(iterable: AsyncIterable<unknown>): Promise<unknown[]> {
  const items: unknown[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}

describe('toAsyncIterable', () => {
  it('passes an async iterable through as it is', async () => {
    async function* source() {
      yield 1;
      yield 2;
    }
    const iterable = source();
    expect(toAsyncIterable(iterable)).toBe(iterable);
    expect(await collect(iterable)).toEqual([1, 2]);
  });

  it('a plain value, a Promise and undefined each become one item', async () => {
    expect(await collect(toAsyncIterable({ a: 1 }))).toEqual([{ a: 1 }]);
    expect(await collect(toAsyncIterable(Promise.resolve('later')))).toEqual(['later']);
    expect(await collect(toAsyncIterable(undefined))).toEqual([undefined]);
    expect(await collect(toAsyncIterable(null))).toEqual([null]);
  });

  it('a rejected Promise is thrown by the iteration', async () => {
    await expect(collect(toAsyncIterable(Promise.reject(new Error('no'))))).rejects.toThrow('no');
  });

  it("an Observable's values, then its completion; its error is thrown after the values before it", async () => {
    expect(await collect(toAsyncIterable(of(1, 2, 3)))).toEqual([1, 2, 3]);
    const failing = new Observable<number>((subscriber) => {
      subscriber.next(1);
      subscriber.error(new Error('mid-stream'));
    });
    const seen: unknown[] = [];
    await expect(
      (async () => {
        for await (const item of toAsyncIterable(failing)) seen.push(item);
      })(),
    ).rejects.toThrow('mid-stream');
    expect(seen).toEqual([1]);
    await expect(collect(toAsyncIterable(throwError(() => new Error('at once'))))).rejects.toThrow('at once');
  });

  it('stopping the iteration early unsubscribes from the Observable', async () => {
    let unsubscribed = false;
    const endless = new Observable<number>((subscriber) => {
      let n = 0;
      const timer = setInterval(() => subscriber.next(n++), 1);
      return () => {
        unsubscribed = true;
        clearInterval(timer);
      };
    });
    for await (const item of toAsyncIterable(endless)) if ((item as number) >= 2) break;
    expect(unsubscribed).toBe(true);
  });
});

describe('unary', () => {
  it('the single item of a stream', async () => {
    expect(await unary(toAsyncIterable(Promise.resolve(42)))).toBe(42);
  });

  it('reads the stream to its end and returns the first item', async () => {
    let finished = false;
    async function* source() {
      yield 'first';
      yield 'second';
      finished = true;
    }
    expect(await unary(source())).toBe('first');
    expect(finished).toBe(true);
  });

  it('an empty stream is an error', async () => {
    async function* empty(): AsyncGenerator<never> {}
    await expect(unary(empty())).rejects.toThrow('The endpoint ended without a response.');
  });
});
