import { describe, expect, it } from 'vitest';
import { SequenceScheduler } from './sequence-scheduler.js';

describe('SequenceScheduler', () => {
  it('admits up to maxRunning, queues the rest in order, and answers 503 past maxWaiting', async () => {
    const scheduler = new SequenceScheduler(1, 1);
    const signal = new AbortController().signal;
    const release = await scheduler.acquire(signal);
    const order: string[] = [];
    const second = scheduler.acquire(signal).then((r) => (order.push('second'), r));
    await expect(scheduler.acquire(signal)).rejects.toMatchObject({ status: 503, code: 'overloaded' });
    expect(scheduler.load).toEqual({ running: 1, waiting: 1 });
    release();
    (await second)();
    expect(order).toEqual(['second']);
    expect(scheduler.load).toEqual({ running: 0, waiting: 0 });
  });

  it('drops a waiting sequence whose request is cancelled', async () => {
    const scheduler = new SequenceScheduler(1, 4);
    const release = await scheduler.acquire(new AbortController().signal);
    const cancelled = new AbortController();
    const waiting = scheduler.acquire(cancelled.signal);
    cancelled.abort(new Error('client gone'));
    await expect(waiting).rejects.toThrow('client gone');
    expect(scheduler.load).toEqual({ running: 1, waiting: 0 });
    release();
    expect(scheduler.load).toEqual({ running: 0, waiting: 0 });
  });
});
