import { decode, encode } from 'gpt-tokenizer/encoding/o200k_base';
import { describe, expect, it } from 'vitest';
import { bytesOfToken, longestTokenBytes } from './token-bytes.js';
import { VOCABULARY_SIZE } from './tokenizer.js';

describe('token bytes', () => {
  it("gives each token's bytes, which put together are the text", () => {
    for (const id of encode('Hello, world! Plain words, one token each.'))
      expect(Buffer.from(bytesOfToken(id)!).toString('utf8')).toBe(decode([id]));
    // Tokens that hold part of a character: only their bytes together decode.
    const ids = encode('Grüße aus Köln, 漢字 and emoji 🚀 — done.');
    expect(Buffer.concat(ids.map((id) => bytesOfToken(id)!)).toString('utf8')).toBe(decode(ids));
  });

  it('knows no bytes for special tokens or ids outside the vocabulary', () => {
    const imStart = encode('<|im_start|>', { allowedSpecial: 'all' })[0]!;
    expect(bytesOfToken(imStart)).toBeUndefined();
    expect(bytesOfToken(VOCABULARY_SIZE)).toBeUndefined();
    expect(bytesOfToken(-1)).toBeUndefined();
  });

  it('finds the longest token, and every token fits it', () => {
    expect(longestTokenBytes()).toBe(128);
    for (let id = 0; id < VOCABULARY_SIZE; id += 997) expect(bytesOfToken(id)?.length ?? 0).toBeLessThanOrEqual(128);
  });
});
