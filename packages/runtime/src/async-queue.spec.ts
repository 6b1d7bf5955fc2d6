import { describe, expect, it } from 'vitest';
import { AsyncQueue } from './async-queue.js';

async function drain<T>(queue: AsyncQueue<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of queue) items.push(item);
  return items;
}

describe('AsyncQueue', () => {
  it('yields the items pushed before it is read, in order, then ends', async () => {
    const queue = new AsyncQueue<number>();
    queue.push(1);
    queue.push(2);
    queue.end();
    expect(await drain(queue)).toEqual([1, 2]);
  });

  it('waits while empty, and wakes for an item pushed later', async () => {
    const queue = new AsyncQueue<string>();
    const read = drain(queue);
    await new Promise((resolve) => setTimeout(resolve, 5));
    queue.push('late');
    await new Promise((resolve) => setTimeout(resolve, 5));
    queue.push('later');
    queue.end();
    expect(await read).toEqual(['late', 'later']);
  });

  it('an empty queue that ends yields nothing', async () => {
    const queue = new AsyncQueue<number>();
    const read = drain(queue);
    queue.end();
    expect(await read).toEqual([]);
  });

  it('a failure is thrown after the items queued before it', async () => {
    const queue = new AsyncQueue<number>();
    queue.push(1);
    queue.fail(new Error('broken'));
    const seen: number[] = [];
    await expect(
      (async () => {
        for await (const item of queue) seen.push(item);
      })(),
    ).rejects.toThrow('broken');
    expect(seen).toEqual([1]);
  });

  it('a failure wakes a reader waiting on an empty queue', async () => {
    const queue = new AsyncQueue<number>();
    const read = drain(queue);
    await new Promise((resolve) => setTimeout(resolve, 5));
    queue.fail(new Error('gone'));
    await expect(read).rejects.toThrow('gone');
  });

  it('only the first failure counts, and nothing is taken after an end or a failure', async () => {
    const failed = new AsyncQueue<number>();
    failed.fail(new Error('first'));
    failed.fail(new Error('second'));
    failed.push(9);
    await expect(drain(failed)).rejects.toThrow('first');

    const ended = new AsyncQueue<number>();
    ended.push(1);
    ended.end();
    ended.push(2);
    ended.fail(new Error('too late'));
    expect(await drain(ended)).toEqual([1]);
  });
});
