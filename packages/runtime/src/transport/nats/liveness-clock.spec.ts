import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LivenessClock } from './liveness-clock.js';

describe('LivenessClock', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  /** Advances `ms` in looks of `step`, as the owner's sweep would, hearing its own beat every `beatMs` (none if 0). */
  function pass(clock: LivenessClock, ms: number, beatMs: number, step = 50): void {
    for (let at = step; at <= ms; at += step) {
      vi.advanceTimersByTime(step);
      if (beatMs > 0 && at % beatMs === 0) clock.ownBeatHeard();
      clock.now();
    }
  }

  it('keeps time while this process hears its own beats', () => {
    const clock = new LivenessClock(50, 1000, 4000);
    const start = clock.now();
    pass(clock, 5000, 500);
    expect(clock.now() - start).toBe(5000);
  });

  it('stops once the bus has carried none of its beats for the allowance, and goes on from there when it does again', () => {
    const clock = new LivenessClock(50, 1000, 4000);
    const start = clock.now();
    pass(clock, 1000, 500);
    pass(clock, 3000, 0);
    // A second since its last beat heard (at 1000), then nothing counts.
    expect(clock.now() - start).toBe(2000);
    clock.ownBeatHeard();
    expect(clock.now() - start).toBe(2000);
    pass(clock, 1500, 500);
    expect(clock.now() - start).toBe(3500);
  });

  it('also stands still while this process itself is stalled', () => {
    const clock = new LivenessClock(50, 1000, 4000);
    const start = clock.now();
    pass(clock, 500, 500);
    vi.advanceTimersByTime(4000); // no look: the event loop was blocked
    clock.ownBeatHeard(); // the beats that came meanwhile are read now
    expect(clock.now() - start).toBeLessThanOrEqual(600);
  });

  it('stands still for the longest pause at most: a link that stays silent counts again after it', () => {
    const clock = new LivenessClock(50, 1000, 4000);
    const start = clock.now();
    pass(clock, 1000, 500);
    pass(clock, 5000, 0);
    expect(clock.now() - start).toBe(2000);
    pass(clock, 3000, 0);
    // 9 s in all: 1 s beating, 1 s of allowance, 4 s stood still, then 3 s counted again.
    expect(clock.now() - start).toBe(5000);
    clock.ownBeatHeard();
    pass(clock, 500, 500);
    expect(clock.now() - start).toBe(5500);
  });
});
