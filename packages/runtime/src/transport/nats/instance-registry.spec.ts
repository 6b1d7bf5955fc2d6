import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { InstanceRegistry } from './instance-registry.js';

describe('InstanceRegistry', () => {
  let registry: InstanceRegistry;
  beforeEach(() => {
    vi.useFakeTimers();
    registry = new InstanceRegistry(1000);
  });
  afterEach(() => {
    registry.close();
    vi.useRealTimers();
  });

  it('lists the live instances of a component, sorted, and none of another component', () => {
    registry.heard('worker', 'worker-b', 'up');
    registry.heard('worker', 'worker-a', 'up');
    registry.heard('router', 'router-1', 'up');
    expect(registry.instances('worker')).toEqual(['worker-a', 'worker-b']);
    expect(registry.instances('router')).toEqual(['router-1']);
    expect(registry.instances('processor')).toEqual([]);
  });

  it("an instance a call found not listening takes no new calls, nor do its process's others, until each beats again", () => {
    registry.heard('worker', 'worker-p-0', 'up', 'process-p');
    registry.heard('worker', 'worker-p-1', 'up', 'process-p');
    registry.heard('worker', 'worker-q-0', 'up', 'process-q');
    registry.heard('worker', 'worker-old', 'up');
    vi.advanceTimersByTime(100);
    registry.unreachable('worker-p-0');
    expect(registry.instances('worker')).toEqual(['worker-old', 'worker-q-0']);
    // Not gone: calls in flight to them are left to the silence or the leaving that tells.
    expect(registry.isAlive('worker-p-1')).toBe(true);
    vi.advanceTimersByTime(100);
    registry.heard('worker', 'worker-p-1', 'up', 'process-p');
    expect(registry.instances('worker')).toEqual(['worker-old', 'worker-p-1', 'worker-q-0']);
    // An instance whose process is not known is set aside alone.
    registry.unreachable('worker-old');
    expect(registry.instances('worker')).toEqual(['worker-p-1', 'worker-q-0']);
  });

  it('takingCalls is instances() kept between changes: a new instance, a drain, a departure, a suspicion, a sweep', () => {
    registry.heard('worker', 'worker-a', 'up', 'process-a');
    expect(registry.takingCalls('worker')).toEqual(['worker-a']);
    expect(registry.takingCalls('worker')).toBe(registry.takingCalls('worker'));
    registry.heard('worker', 'worker-b', 'up', 'process-b');
    expect(registry.takingCalls('worker')).toEqual(['worker-a', 'worker-b']);
    registry.heard('worker', 'worker-b', 'draining', 'process-b');
    expect(registry.takingCalls('worker')).toEqual(['worker-a']);
    registry.heard('worker', 'worker-b', 'up', 'process-b');
    registry.unreachable('worker-a');
    expect(registry.takingCalls('worker')).toEqual(['worker-b']);
    vi.advanceTimersByTime(10);
    registry.heard('worker', 'worker-a', 'up', 'process-a');
    expect(registry.takingCalls('worker')).toEqual(['worker-a', 'worker-b']);
    registry.heard('worker', 'worker-b', 'leaving', 'process-b');
    expect(registry.takingCalls('worker')).toEqual(['worker-a']);
    // Silent past the expiry: out by the next sweep.
    vi.advanceTimersByTime(1300);
    expect(registry.takingCalls('worker')).toEqual([]);
  });

  it('a draining instance is alive but takes no new calls; heard up again, it takes them again', () => {
    registry.heard('worker', 'worker-a', 'up');
    registry.heard('worker', 'worker-a', 'draining');
    expect(registry.instances('worker')).toEqual([]);
    expect(registry.isAlive('worker-a')).toBe(true);
    registry.heard('worker', 'worker-a', 'up');
    expect(registry.instances('worker')).toEqual(['worker-a']);
  });

  it('an instance that says it leaves is gone at once, and its listeners hear it once', () => {
    const gone: string[] = [];
    registry.onGone((id) => gone.push(id));
    registry.heard('worker', 'worker-a', 'up');
    registry.heard('worker', 'worker-a', 'leaving');
    registry.heard('worker', 'worker-a', 'leaving');
    expect(registry.isAlive('worker-a')).toBe(false);
    expect(registry.instances('worker')).toEqual([]);
    expect(gone).toEqual(['worker-a']);
  });

  it('an unknown instance leaving is nothing to hear', () => {
    const gone: string[] = [];
    registry.onGone((id) => gone.push(id));
    registry.heard('worker', 'never-seen', 'leaving');
    expect(gone).toEqual([]);
  });

  it('an instance silent for longer than the expiry is no longer listed, then swept and reported gone', () => {
    const gone: string[] = [];
    registry.onGone((id) => gone.push(id));
    registry.heard('worker', 'worker-a', 'up');
    registry.heard('worker', 'worker-b', 'up');
    vi.advanceTimersByTime(600);
    registry.heard('worker', 'worker-b', 'up');
    vi.advanceTimersByTime(401);
    // Past the expiry, before the sweeper has run again: not listed, not alive.
    expect(registry.instances('worker')).toEqual(['worker-b']);
    expect(registry.isAlive('worker-a')).toBe(false);
    vi.advanceTimersByTime(250);
    expect(gone).toEqual(['worker-a']);
    expect(registry.isAlive('worker-b')).toBe(true);
  });

  it('a heartbeat just within the expiry keeps the instance', () => {
    registry.heard('worker', 'worker-a', 'up');
    vi.advanceTimersByTime(1000);
    expect(registry.isAlive('worker-a')).toBe(true);
    expect(registry.instances('worker')).toEqual(['worker-a']);
  });

  describe('after this process was stalled (its clock jumps, its timers run late)', () => {
    /** A long synchronous task: the wall clock moves on, no timer (nor heartbeat) gets a turn. */
    const stall = (ms: number) => vi.setSystemTime(Date.now() + ms);

    it('keeps the instances that were alive when it stalled, asked before its sweeper ran', () => {
      const gone: string[] = [];
      registry.onGone((id) => gone.push(id));
      registry.heard('worker', 'worker-a', 'up');
      vi.advanceTimersByTime(500);
      stall(5000);
      expect(registry.instances('worker')).toEqual(['worker-a']);
      expect(registry.isAlive('worker-a')).toBe(true);
      expect(registry.known()).toEqual(['worker-a']);
      vi.advanceTimersByTime(250);
      expect(gone).toEqual([]);
    });

    it('keeps them when its late sweeper runs first', () => {
      const gone: string[] = [];
      registry.onGone((id) => gone.push(id));
      registry.heard('worker', 'worker-a', 'up');
      vi.advanceTimersByTime(500);
      stall(5000);
      vi.advanceTimersByTime(0);
      vi.advanceTimersByTime(250);
      expect(gone).toEqual([]);
      expect(registry.instances('worker')).toEqual(['worker-a']);
    });

    it('still expires an instance silent for the expiry while this process was awake', () => {
      const gone: string[] = [];
      registry.onGone((id) => gone.push(id));
      registry.heard('worker', 'worker-a', 'up');
      stall(5000);
      expect(registry.isAlive('worker-a')).toBe(true);
      // The stall is counted short by at most one sweeper period; awake from here on, it is gone within the expiry.
      vi.advanceTimersByTime(700);
      expect(registry.isAlive('worker-a')).toBe(true);
      vi.advanceTimersByTime(300);
      expect(registry.isAlive('worker-a')).toBe(false);
      expect(registry.instances('worker')).toEqual([]);
      expect(gone).toEqual(['worker-a']);
    });

    it('counts the silence before the stall: an instance already quiet for most of the expiry goes soon after', () => {
      registry.heard('worker', 'worker-a', 'up');
      vi.advanceTimersByTime(900);
      stall(5000);
      expect(registry.isAlive('worker-a')).toBe(true);
      vi.advanceTimersByTime(250);
      expect(registry.isAlive('worker-a')).toBe(false);
    });
  });

  it('a listener removed by the function onGone returned hears nothing more; close() forgets everything', () => {
    const heard: string[] = [];
    const stop = registry.onGone((id) => heard.push(id));
    registry.heard('worker', 'worker-a', 'up');
    stop();
    registry.heard('worker', 'worker-a', 'leaving');
    expect(heard).toEqual([]);
    registry.heard('worker', 'worker-b', 'up');
    registry.close();
    expect(registry.instances('worker')).toEqual([]);
    expect(registry.isAlive('worker-b')).toBe(false);
  });
});
