import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { mergeStreams } from './merge-streams.js';

async function* ticking(name: string, delays: number[], log: string[]) {
  try {
    for (const [i, delay] of delays.entries()) {
      await sleep(delay);
      yield `${name}${i}`;
    }
  } finally {
    log.push(`${name} closed`);
  }
}

describe('mergeStreams', () => {
  it('interleaves items as they arrive and ends when all have ended', async () => {
    const log: string[] = [];
    const items: string[] = [];
    for await (const item of mergeStreams([ticking('a', [1, 30], log), ticking('b', [10, 10], log)])) items.push(item);
    expect(items).toEqual(['a0', 'b0', 'b1', 'a1']);
    expect(log.sort()).toEqual(['a closed', 'b closed']);
  });

  it('stops every stream when the consumer stops', async () => {
    const log: string[] = [];
    for await (const item of mergeStreams([ticking('a', [1, 1, 1, 1], log), ticking('b', [1, 1, 1, 1], log)])) {
      if (item) break;
    }
    await sleep(20);
    expect(log.sort()).toEqual(['a closed', 'b closed']);
  });

  it('fails, and stops the others, when one stream fails', async () => {
    const log: string[] = [];
    async function* failing() {
      await sleep(5);
      throw new Error('boom');
    }
    await expect(async () => {
      for await (const _ of mergeStreams([ticking('a', [50, 50], log), failing()])) void _;
    }).rejects.toThrow('boom');
    await sleep(80);
    expect(log).toEqual(['a closed']);
  });
});
