import { describe, expect, it } from 'vitest';
import { createStore, getCurrentRequestId, runInStore, snapshotContext } from './request-context.js';

describe('snapshotContext', () => {
  it("runs each call in its store, passes the argument and the result, and restores the caller's context", () => {
    const run = snapshotContext(createStore('runner-1'));
    runInStore(createStore('caller-1'), () => {
      expect(run((suffix: string) => `${getCurrentRequestId()}${suffix}`, '!')).toBe('runner-1!');
      expect(getCurrentRequestId()).toBe('caller-1');
    });
    expect(run(() => getCurrentRequestId(), undefined)).toBe('runner-1');
    expect(getCurrentRequestId()).toBeUndefined();
  });

  it("what a call starts (a promise, a timer) keeps the runner's store; a throw leaves the caller's context intact", async () => {
    const run = snapshotContext(createStore('runner-2'));
    const later = run(
      () => new Promise<string | undefined>((resolve) => setTimeout(() => resolve(getCurrentRequestId()), 1)),
      undefined,
    );
    const chained = run(() => Promise.resolve().then(() => getCurrentRequestId()), undefined);
    await expect(later).resolves.toBe('runner-2');
    await expect(chained).resolves.toBe('runner-2');
    runInStore(createStore('caller-2'), () => {
      expect(() =>
        run(() => {
          throw new Error('boom');
        }, undefined),
      ).toThrow('boom');
      expect(getCurrentRequestId()).toBe('caller-2');
    });
  });
});
