import { describe, expect, it } from 'vitest';
import { fewestTokens } from './tokenizer.js';
import { longestTokenBytes } from './token-bytes.js';

describe('fewestTokens', () => {
  const LONGEST = longestTokenBytes();
  // Three UTF-8 bytes a character.
  const cjk = '漢'.repeat(10 * LONGEST);

  it('counts the UTF-8 bytes of the texts against the longest token, and a token for each special', () => {
    expect(fewestTokens([{ text: 'a'.repeat(2 * LONGEST + 1) }])).toBe(3);
    expect(fewestTokens([{ special: '<|im_start|>' }, { text: cjk }, { special: '<|im_end|>' }])).toBe(2 + 30);
  });

  it('gives the count of the characters alone once that is already more than enough, and of the bytes otherwise', () => {
    expect(fewestTokens([{ text: cjk }], 9)).toBe(10);
    expect(fewestTokens([{ text: cjk }], 10)).toBe(30);
    expect(fewestTokens([{ text: 'a'.repeat(20 * LONGEST) }], 5)).toBe(20);
  });
});
