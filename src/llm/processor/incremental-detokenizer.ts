import type { Tokenizer } from './tokenizer.js';

/**
 * Turns a stream of token ids into a stream of text. A token can end in the middle of a UTF-8
 * character (one emoji may span two tokens); such text is held back until the character completes.
 */
export class IncrementalDetokenizer {
  private readonly tokenIds: number[] = [];
  private emitted = 0;

  constructor(private readonly tokenizer: Tokenizer) {}

  /** The new text that `tokenIds` complete. */
  push(tokenIds: readonly number[]): string {
    this.tokenIds.push(...tokenIds);
    const text = this.tokenizer.decode(this.tokenIds);
    // U+FFFD at the end is a character still incomplete; wait for the next token.
    const complete = text.endsWith('\uFFFD') ? text.slice(0, text.lastIndexOf('\uFFFD')) : text;
    if (complete.length <= this.emitted) return '';
    const fresh = complete.slice(this.emitted);
    this.emitted = complete.length;
    return fresh;
  }

  /** Whatever is left when the stream ends, incomplete characters included. */
  flush(): string {
    const text = this.tokenizer.decode(this.tokenIds);
    const rest = text.slice(this.emitted);
    this.emitted = text.length;
    return rest;
  }

  get tokenCount(): number {
    return this.tokenIds.length;
  }
}
