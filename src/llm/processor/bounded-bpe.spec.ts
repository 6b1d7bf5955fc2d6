import { encode } from 'gpt-tokenizer/encoding/o200k_base';
import { O200K_TOKEN_SPLIT_REGEX } from 'gpt-tokenizer/encodingParams/constants';
import { describe, expect, it } from 'vitest';
import { encodeBounded, MAX_PIECE_CHARS } from './bounded-bpe.mjs';
import { mulberry32 } from '../worker/mocker/mock-text.js';
import { bytesOfToken } from './token-bytes.js';

/** gpt-tokenizer's own, unbounded encoding, special-token markers as text. */
function unbounded(text: string): number[] {
  return encode(text, { disallowedSpecial: new Set() });
}

function decodeIds(ids: number[]): string {
  return Buffer.concat(ids.map((id) => bytesOfToken(id)!)).toString('utf8');
}

function longestPiece(text: string): number {
  let longest = 0;
  for (const [piece] of text.matchAll(O200K_TOKEN_SPLIT_REGEX)) longest = Math.max(longest, piece.length);
  return longest;
}

const CJK = '我们的服务需要在任何输入下保持响应能力并且快速拒绝不合理的请求这是一个长句子没有标点符号';

const ORDINARY: Array<[string, string]> = [
  [
    'English prose',
    "The quick brown fox jumps over the lazy dog. It's 42 degrees; we'll see, won't we?\n\nNew paragraph.",
  ],
  [
    'minified JSON',
    JSON.stringify({
      messages: Array.from({ length: 40 }, (_, i) => ({ role: 'user', content: `hello ${i}`, tags: ['a', 'b'] })),
    }),
  ],
  [
    'indented code',
    'function f(x) {\n  if (x > 1) {\n    return [x, x * 2].map((y) => y + 1);\n  }\n\t\treturn null;\n}\n'.repeat(30),
  ],
  ['CJK with punctuation', `${CJK}。${CJK}，${CJK}！`.repeat(5)],
  ['emoji and accents', 'café naïve façade 😀👍🏽 — “quotes” 日本語 Ελληνικά Русский'.repeat(20)],
  ['chat markers spelled in text', '<|im_start|>user\nhi<|im_end|><|endoftext|>'],
  [
    'a run of spaces and newlines just under the bound',
    `a${' '.repeat(MAX_PIECE_CHARS - 2)}b\n${'\n'.repeat(MAX_PIECE_CHARS - 1)}c`,
  ],
  ['a word of letters just under the bound', `x ${'abc'.repeat(Math.floor((MAX_PIECE_CHARS - 8) / 3))}'ll y`],
  [
    'a line of symbols just under the bound',
    `${'='.repeat(MAX_PIECE_CHARS - 1)}\n${'-+'.repeat(MAX_PIECE_CHARS / 2 - 1)}/\n`,
  ],
];

describe('encodeBounded', () => {
  it.each(ORDINARY)("gives exactly gpt-tokenizer's ids for ordinary text: %s", (_name, text) => {
    expect(longestPiece(text)).toBeLessThanOrEqual(MAX_PIECE_CHARS);
    expect(encodeBounded(text)).toEqual(unbounded(text));
  });

  it.each([
    ['every kind of character', ['a', 'Z', 'é', '语', '7', ' ', '\n', '\t', '!', '/', "'", '😀', '\u0301', 's', 'L']],
    ['ASCII characters', ['a', 'Z', '7', ' ', '\n', '\t', '!', '/', "'", 's', 'L', '-']],
  ])(
    "gives exactly gpt-tokenizer's ids for random mixes of %s whose pieces are within the bound",
    (_kind, alphabet) => {
      const random = mulberry32(7);
      let compared = 0;
      let nearTheBound = 0;
      for (let round = 0; round < 300; round++) {
        let text = '';
        while (text.length < 1000) {
          const char = alphabet[Math.floor(random() * alphabet.length)]!;
          // Now and then a long run, around the length at which the fast path gives way.
          text += char.repeat(
            random() < 0.01 ? MAX_PIECE_CHARS - 20 + Math.floor(random() * 30) : 1 + Math.floor(random() * 3),
          );
        }
        const longest = longestPiece(text);
        if (longest > MAX_PIECE_CHARS) continue;
        compared++;
        if (longest > MAX_PIECE_CHARS - 4) nearTheBound++;
        expect(encodeBounded(text)).toEqual(unbounded(text));
      }
      expect(compared).toBeGreaterThan(100);
      expect(nearTheBound).toBeGreaterThan(10);
    },
  );

  it('encodes a piece longer than the bound in slices, within a fraction of a percent of the unsplit count', () => {
    const random = mulberry32(11);
    const letters = Array.from(
      { length: 8 * MAX_PIECE_CHARS },
      () => 'abcdefghijklmnopqrstuvwxyz'[Math.floor(random() * 26)],
    ).join('');
    const cjk = Array.from({ length: 8 * MAX_PIECE_CHARS }, () => CJK[Math.floor(random() * CJK.length)]).join('');
    for (const text of [letters, cjk, 'a'.repeat(8 * MAX_PIECE_CHARS)]) {
      const bounded = encodeBounded(text).length;
      const exact = unbounded(text).length;
      expect(Math.abs(bounded - exact) / exact).toBeLessThan(0.01);
    }
  });

  it('keeps the ids of the text around a long piece exact', () => {
    const before = 'Some text before it, with punctuation! ';
    const after = ' and text after it.';
    const ids = encodeBounded(`${before}${'!'.repeat(4 * MAX_PIECE_CHARS)}${after}`);
    expect(ids.slice(0, unbounded(before.trimEnd()).length)).toEqual(unbounded(before.trimEnd()));
    expect(ids.slice(-unbounded(after).length)).toEqual(unbounded(after));
  });

  it('never cuts a character in two: a long run of emoji, odd-aligned, decodes back to itself', () => {
    const text = `!${'😀'.repeat(3 * MAX_PIECE_CHARS)}`;
    expect(decodeIds(encodeBounded(text))).toBe(text);
  });

  it('encodes 1 MiB of one repeated character, of symbols, of spaces, and of CJK, without the stack overflow gpt-tokenizer hits', () => {
    const mib = 1 << 20;
    for (const text of [
      'a'.repeat(mib),
      'Ab'.repeat(mib / 2),
      '!'.repeat(mib),
      ' '.repeat(mib),
      CJK.repeat(Math.ceil(mib / 3 / CJK.length)),
    ]) {
      expect(decodeIds(encodeBounded(text))).toBe(text);
    }
  });
});
