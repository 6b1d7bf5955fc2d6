import { describe, expect, it } from 'vitest';
import { SequenceScheduler } from './sequence-scheduler.js';

describe('SequenceScheduler', () => {
  it('admits up to maxRunning, queues the rest in order, and answers 429 past maxWaiting', async () => {
    const scheduler = new SequenceScheduler(1, 1);
    const signal = new AbortController().signal;
    const release = await scheduler.acquire(signal);
    const order: string[] = [];
    const second = scheduler.acquire(signal).then((r) => (order.push('second'), r));
    await expect(scheduler.acquire(signal)).rejects.toMatchObject({
      status: 429,
      code: 'rate_limit_exceeded',
      expected: true,
    });
    expect(scheduler.load).toEqual({ running: 1, waiting: 1 });
    release();
    (await second)();
    expect(order).toEqual(['second']);
    expect(scheduler.load).toEqual({ running: 0, waiting: 0 });
  });

  it('refuses a sequence past a full queue synchronously, without waiting for running work', () => {
    const scheduler = new SequenceScheduler(1, 1);
    const signal = new AbortController().signal;
    scheduler.enter(signal);
    scheduler.enter(signal);
    expect(() => scheduler.enter(signal)).toThrow(/at capacity \(1 running, 1 waiting\)/);
  });

  it('takes a queued sequence in at once and tells it when its slot is free', async () => {
    const scheduler = new SequenceScheduler(1, 1);
    const signal = new AbortController().signal;
    const first = scheduler.enter(signal);
    const second = scheduler.enter(signal);
    expect(scheduler.load).toEqual({ running: 1, waiting: 1 });
    first.leave();
    await expect(second.ready).resolves.toBe(true);
    expect(scheduler.load).toEqual({ running: 1, waiting: 0 });
  });

  it('frees the place of a queued sequence that leaves before its turn', async () => {
    const scheduler = new SequenceScheduler(1, 1);
    const signal = new AbortController().signal;
    const first = scheduler.enter(signal);
    const queued = scheduler.enter(signal);
    queued.leave();
    await expect(queued.ready).resolves.toBe(false);
    expect(scheduler.load).toEqual({ running: 1, waiting: 0 });
    first.leave();
    first.leave();
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
