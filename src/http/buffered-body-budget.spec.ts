import { describe, expect, it } from 'vitest';
import { BufferedBodyBudget } from './buffered-body-budget.js';

describe('BufferedBodyBudget', () => {
  it('takes bodies while they fit under the cap, and refuses one that would pass it without taking any of it', () => {
    const budget = new BufferedBodyBudget(100);
    expect(budget.tryTake(60)).toBe(true);
    expect(budget.tryTake(40)).toBe(true);
    expect(budget.tryTake(1)).toBe(false);
    expect(budget.heldBytes).toBe(100);
  });

  it('makes room again as bodies are given back', () => {
    const budget = new BufferedBodyBudget(100);
    budget.tryTake(70);
    expect(budget.tryTake(50)).toBe(false);
    budget.giveBack(70);
    expect(budget.tryTake(50)).toBe(true);
    expect(budget.heldBytes).toBe(50);
  });
});
