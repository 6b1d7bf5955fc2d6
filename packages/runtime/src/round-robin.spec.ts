import { describe, expect, it } from 'vitest';
import { RoundRobin } from './round-robin.js';

describe('RoundRobin', () => {
  it('takes turns per key, and keeps going when the list changes', () => {
    const turns = new RoundRobin();
    expect([1, 2, 3, 4].map(() => turns.pick(['a', 'b', 'c']))).toEqual(['a', 'b', 'c', 'a']);
    expect([1, 2].map(() => turns.pick(['x', 'y'], 'other'))).toEqual(['x', 'y']);
    expect(turns.pick(['a', 'b'])).toBe('b');
    expect(turns.pick(['a'])).toBe('a');
  });
});
