import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CallerLiveness } from './caller-liveness.js';

describe('CallerLiveness', () => {
  let liveness: CallerLiveness;
  beforeEach(() => {
    vi.useFakeTimers();
    liveness = new CallerLiveness(1000);
  });
  afterEach(() => {
    liveness.close();
    vi.useRealTimers();
  });

  it('tells the watchers of a caller that falls silent, once, and not those of one that keeps beating', () => {
    const silent = vi.fn();
    const beating = vi.fn();
    liveness.heard('a', false);
    liveness.heard('b', false);
    liveness.watch('a', silent);
    liveness.watch('b', beating);
    for (let ms = 0; ms < 3000; ms += 250) {
      liveness.heard('b', false);
      vi.advanceTimersByTime(250);
    }
    expect(silent).toHaveBeenCalledTimes(1);
    expect(beating).not.toHaveBeenCalled();
  });

  it('tells them at once when the caller says it leaves; a watch stopped hears nothing', () => {
    const watcher = vi.fn();
    const stopped = vi.fn();
    liveness.heard('a', false);
    liveness.watch('a', watcher);
    liveness.watch('a', stopped)();
    liveness.heard('a', true);
    expect(watcher).toHaveBeenCalledTimes(1);
    expect(stopped).not.toHaveBeenCalled();
  });

  it('gives a caller not heard of yet the expiry from the watch', () => {
    const watcher = vi.fn();
    liveness.watch('new', watcher);
    vi.advanceTimersByTime(900);
    liveness.heard('new', false);
    vi.advanceTimersByTime(900);
    expect(watcher).not.toHaveBeenCalled();
    vi.advanceTimersByTime(300);
    expect(watcher).toHaveBeenCalledTimes(1);
  });
});
