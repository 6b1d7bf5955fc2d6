import { describe, expect, it } from 'vitest';
import { blockHashes } from './block-hash.mjs';
import { KvBlockCache } from './kv-block-cache.js';

describe('blockHashes', () => {
  it('gives equal ids to equal prefixes and none to a partial block', () => {
    const a = blockHashes([1, 2, 3, 4, 5, 6, 7], 2);
    const b = blockHashes([1, 2, 3, 4, 9, 9], 2);
    expect(a).toHaveLength(3);
    expect(b.slice(0, 2)).toEqual(a.slice(0, 2));
    expect(b[2]).not.toBe(a[2]);
  });

  it('chains: the same block after a different prefix has another id', () => {
    expect(blockHashes([9, 9, 1, 2], 2)[1]).not.toBe(blockHashes([8, 8, 1, 2], 2)[1]);
  });
});

describe('KvBlockCache', () => {
  it('reports the cached prefix and evicts the least recently used blocks', () => {
    const cache = new KvBlockCache(4);
    expect(cache.store(['a', 'b', 'c'])).toEqual({ hitBlocks: 0, stored: ['a', 'b', 'c'], removed: [] });
    expect(cache.prefixHits(['a', 'b', 'x'])).toBe(2);
    expect(cache.store(['a', 'd', 'e'])).toEqual({ hitBlocks: 1, stored: ['d', 'e'], removed: ['b'] });
    expect(cache.usage).toBe(1);
    expect(cache.prefixHits(['a', 'b'])).toBe(1);
  });
});
