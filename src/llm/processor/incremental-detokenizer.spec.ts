import { describe, expect, it } from 'vitest';
import { IncrementalDetokenizer } from './incremental-detokenizer.js';
import { Tokenizer } from './tokenizer.js';

describe('IncrementalDetokenizer', () => {
  const tokenizer = new Tokenizer();

  it('streams text token by token that joins to the whole decoding, multi-byte characters included', () => {
    const text = 'Hello, wörld 🦜 日本語 done.';
    const ids = tokenizer.encode(text);
    const detokenizer = new IncrementalDetokenizer(tokenizer);
    const pieces = ids.map((id) => detokenizer.push([id]));
    pieces.push(detokenizer.flush());
    expect(pieces.join('')).toBe(text);
    expect(pieces.some((piece) => piece.includes('\uFFFD'))).toBe(false);
    expect(detokenizer.tokenCount).toBe(ids.length);
  });

  it('keeps concurrent streams apart, each mid-character at the same time', () => {
    const texts = ['🦜🦜 ünïcödé 日本語', '€uro ☃ snow 🌍 earth'];
    const ids = texts.map((text) => tokenizer.encode(text));
    const detokenizers = texts.map(() => new IncrementalDetokenizer(tokenizer));
    const out = ['', ''];
    for (let i = 0; i < Math.max(...ids.map((list) => list.length)); i++) {
      for (const s of [0, 1]) if (i < ids[s]!.length) out[s] += detokenizers[s]!.push([ids[s]![i]!]);
    }
    expect(out.map((text, s) => text + detokenizers[s]!.flush())).toEqual(texts);
  });

  it('gives, token by token, exactly what one streaming decoder of all the bytes gives, for random token sequences (broken characters too)', () => {
    let seed = 42;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    // Tokens that hold parts of characters, mixed with whole ones, so every path of the cache is taken.
    const partial = [...Array(200_000).keys()]
      .filter((id) => tokenizer.bytesOf(id) !== undefined && tokenizer.wholeText(id) === undefined)
      .slice(0, 500);
    expect(partial.length).toBeGreaterThan(100);
    for (let run = 0; run < 200; run++) {
      const ids = Array.from({ length: 40 }, () =>
        random() < 0.4 ? partial[Math.floor(random() * partial.length)]! : Math.floor(random() * 199_000),
      );
      const detokenizer = new IncrementalDetokenizer(tokenizer);
      const reference = new TextDecoder('utf-8');
      const expected: string[] = [];
      const actual: string[] = [];
      for (const id of ids) {
        const bytes = tokenizer.bytesOf(id);
        if (bytes === undefined) continue;
        expected.push(reference.decode(bytes, { stream: true }));
        actual.push(detokenizer.push([id]));
      }
      expected.push(reference.decode());
      actual.push(detokenizer.flush());
      expect(actual).toEqual(expected); // piece by piece: no text held back longer than the decoder would
    }
  });
});
