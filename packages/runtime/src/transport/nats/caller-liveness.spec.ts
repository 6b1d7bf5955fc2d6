import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CallerLiveness } from './caller-liveness.js';

describe('CallerLiveness', () => {
  let liveness: CallerLiveness;
  let gone: string[];
  let silences: Array<number | undefined>;
  beforeEach(() => {
    silences = [];
    vi.useFakeTimers();
    liveness = new CallerLiveness(1000);
    gone = [];
    liveness.onGone((processId, silentMs) => {
      gone.push(processId);
      silences.push(silentMs);
    });
  });
  afterEach(() => {
    liveness.close();
    vi.useRealTimers();
  });

  it('reports a caller that falls silent, once, and not one that keeps beating', () => {
    liveness.heard('a', false);
    liveness.heard('b', false);
    for (let ms = 0; ms < 3000; ms += 250) {
      liveness.heard('b', false);
      vi.advanceTimersByTime(250);
    }
    expect(gone).toEqual(['a']);
    // How long it had been silent: past the expiry, by at most a sweep.
    expect(silences[0]).toBeGreaterThan(1000);
    expect(silences[0]).toBeLessThanOrEqual(1100);
  });

  it('reports a caller at once when it says it leaves', () => {
    liveness.heard('a', false);
    liveness.heard('a', true);
    expect(gone).toEqual(['a']);
    expect(silences).toEqual([undefined]);
  });

  it('gives a caller not heard of yet the expiry from its first call', () => {
    liveness.expect('new');
    vi.advanceTimersByTime(900);
    liveness.heard('new', false);
    vi.advanceTimersByTime(900);
    expect(gone).toEqual([]);
    vi.advanceTimersByTime(300);
    expect(gone).toEqual(['new']);
  });

  it('does not restart the expiry of a caller already heard of when it calls', () => {
    liveness.heard('a', false);
    vi.advanceTimersByTime(900);
    liveness.expect('a');
    vi.advanceTimersByTime(300);
    expect(gone).toEqual(['a']);
  });

  it('gives a caller that went and calls again a new expiry', () => {
    liveness.heard('a', true);
    liveness.expect('a');
    vi.advanceTimersByTime(900);
    expect(gone).toEqual(['a']);
    vi.advanceTimersByTime(300);
    expect(gone).toEqual(['a', 'a']);
  });
});
