import { describe, expect, it } from 'vitest';
import { decodeVector, encodeVector } from '../../protocol/embedding-vector.js';
import { mockEmbedding } from './mock-embedding.js';

const norm = (v: ArrayLike<number>) => Math.sqrt(Array.from(v).reduce((sum, x) => sum + x * x, 0));
const cosine = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((sum, x, i) => sum + x * b[i]!, 0);

describe('mockEmbedding', () => {
  it('depends on the token ids only, has the length asked for and norm 1', () => {
    for (const dimensions of [1, 2, 256, 3072]) {
      const vector = mockEmbedding([1, 2, 3, 1000, 199_999], dimensions);
      expect(vector).toHaveLength(dimensions);
      expect(norm(vector)).toBeCloseTo(1, 6);
      expect(mockEmbedding([1, 2, 3, 1000, 199_999], dimensions)).toEqual(vector);
    }
  });

  it('is a bag: the order of the tokens does not matter, their counts do', () => {
    expect(mockEmbedding([5, 6, 7], 64)).toEqual(mockEmbedding([7, 5, 6], 64));
    expect(mockEmbedding([5, 6, 7, 7], 64)).not.toEqual(mockEmbedding([5, 6, 7], 64));
  });

  it('sequences sharing more tokens are closer', () => {
    const base = [10, 20, 30, 40, 50, 60];
    const most = [10, 20, 30, 40, 50, 99];
    const half = [10, 20, 30, 97, 98, 99];
    const none = [91, 92, 93, 94, 95, 96];
    const [a, b, c] = [most, half, none].map((ids) => cosine(mockEmbedding(base, 256), mockEmbedding(ids, 256)));
    expect(a).toBeGreaterThan(b!);
    expect(b).toBeGreaterThan(c!);
  });

  it('no tokens still give a unit vector', () => {
    expect(norm(mockEmbedding([], 8))).toBe(1);
  });

  it('travels as little-endian float32 in base64 without changing a value', () => {
    const vector = mockEmbedding([42, 43], 16);
    const base64 = encodeVector(vector);
    expect(Buffer.from(base64, 'base64').readFloatLE(4)).toBe(vector[1]);
    expect(decodeVector(base64)).toEqual(Array.from(vector));
  });
});
