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
});
