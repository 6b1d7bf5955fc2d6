import { decode, encode } from 'gpt-tokenizer/encoding/o200k_base';
import { InvalidRequestError } from '../protocol/invalid-request.error.js';
import { tokenBytes } from './token-bytes.js';

/** The vocabulary size of o200k_base; token ids at or above it cannot be decoded. */
export const VOCABULARY_SIZE = 200_019;

/**
 * A real BPE tokenizer (OpenAI's o200k_base, from the `gpt-tokenizer` package), so that prompt and
 * completion token counts are the ones a client would compute. Special tokens in a chat template are
 * encoded as special tokens; in user text they are plain text.
 */
export class Tokenizer {
  constructor() {
    tokenBytes(); // load the byte table at start-up, not on the first request
  }

  encode(text: string, allowSpecial = false): number[] {
    return encode(text, allowSpecial ? { allowedSpecial: 'all' } : { disallowedSpecial: new Set() });
  }

  /** The bytes of a token; `undefined` for special tokens, which have text but no bytes. */
  bytesOf(tokenId: number): Uint8Array | undefined {
    return tokenBytes()[tokenId];
  }

  /** The text of a special token (such as `<|im_end|>`). */
  specialText(tokenId: number): string {
    return decode([tokenId]);
  }

  /** Checks token ids sent by a client (a completions prompt may be token ids). */
  checkIds(tokenIds: readonly number[], param: string): void {
    const bad = tokenIds.find((id) => id >= VOCABULARY_SIZE);
    if (bad !== undefined) throw new InvalidRequestError(`Token id ${bad} is outside the vocabulary (0-${VOCABULARY_SIZE - 1}).`, param);
  }
}
