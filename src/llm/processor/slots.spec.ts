import { describe, expect, it } from 'vitest';
import { Slots } from './slots.js';

describe('Slots', () => {
  it('gives free slots at once, then serves waiters in the order they came', async () => {
    const slots = new Slots(2);
    await slots.acquire();
    await slots.acquire();
    const order: string[] = [];
    const first = slots.acquire().then(() => order.push('first'));
    const second = slots.acquire().then(() => order.push('second'));
    expect(slots.demand).toBe(4);
    slots.release();
    slots.release();
    await Promise.all([first, second]);
    expect(order).toEqual(['first', 'second']);
    expect(slots.demand).toBe(2);
  });

  it('lets a waiter whose signal aborts leave the line, and passes its turn to the next', async () => {
    const slots = new Slots(1);
    await slots.acquire();
    const controller = new AbortController();
    const leaving = slots.acquire(controller.signal);
    const staying = slots.acquire();
    controller.abort(new Error('client gone'));
    await expect(leaving).rejects.toThrow('client gone');
    expect(slots.demand).toBe(2);
    slots.release();
    await staying;
    expect(slots.demand).toBe(1);
  });

  it('refuses a caller whose signal has already aborted', async () => {
    const slots = new Slots(1);
    await expect(slots.acquire(AbortSignal.abort(new Error('gone already')))).rejects.toThrow('gone already');
    expect(slots.demand).toBe(0);
  });

  it('frees a slot released with nobody waiting', async () => {
    const slots = new Slots(1);
    await slots.acquire();
    slots.release();
    expect(slots.demand).toBe(0);
    await slots.acquire();
    expect(slots.demand).toBe(1);
  });
});
