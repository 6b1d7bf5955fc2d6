import type { Tokenizer } from './tokenizer.js';

/**
 * Turns a stream of token ids into a stream of text. A token can end in the middle of a UTF-8
 * character (one emoji may span two tokens); a streaming TextDecoder of this stream's own holds those
 * bytes back until the character completes.
 */
export class IncrementalDetokenizer {
  private readonly decoder = new TextDecoder('utf-8');
  private count = 0;

  constructor(private readonly tokenizer: Tokenizer) {}

  /** The new text that `tokenIds` complete. */
  push(tokenIds: readonly number[]): string {
    let text = '';
    for (const id of tokenIds) {
      const bytes = this.tokenizer.bytesOf(id);
      text += bytes === undefined ? this.decoder.decode() + this.tokenizer.specialText(id) : this.decoder.decode(bytes, { stream: true });
    }
    this.count += tokenIds.length;
    return text;
  }

  /** Whatever is left when the stream ends (an incomplete character becomes U+FFFD). */
  flush(): string {
    return this.decoder.decode();
  }

  get tokenCount(): number {
    return this.count;
  }
}
