import { describe, expect, it } from 'vitest';
import { RepeatedFailureLines } from './repeated-failure-lines.js';

describe('RepeatedFailureLines', () => {
  it('the first failure, then one an interval counting those without a line, and the recovery', () => {
    let now = 0;
    const lines = new RepeatedFailureLines(60_000, () => now);
    expect(lines.succeeded()).toBeUndefined();
    expect(lines.failed()).toEqual({ notLogged: 0 });
    for (let i = 0; i < 5; i++) expect(lines.failed()).toBeUndefined();
    now = 60_000;
    expect(lines.failed()).toEqual({ notLogged: 5 });
    expect(lines.failed()).toBeUndefined();
    expect(lines.succeeded()).toEqual({ notLogged: 1 });
    expect(lines.succeeded()).toBeUndefined();
    // A failure soon after the recovery's line waits for the interval too.
    expect(lines.failed()).toBeUndefined();
  });
});
