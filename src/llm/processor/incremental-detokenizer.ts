import type { Tokenizer } from './tokenizer.js';

/**
 * Turns a stream of token ids into a stream of text. A token can end in the middle of a UTF-8
 * character (one emoji may span two tokens); a streaming TextDecoder of this stream's own holds those
 * bytes back until the character completes.
 */
export class IncrementalDetokenizer {
  private readonly decoder = new TextDecoder('utf-8');
  /** Whether the decoder may hold the first bytes of a character (false only when it surely holds none). */
  private holding = false;
  private count = 0;

  constructor(private readonly tokenizer: Tokenizer) {}

  /** The new text that `tokenIds` complete. */
  push(tokenIds: readonly number[]): string {
    let text = '';
    for (const id of tokenIds) text += this.textOf(id);
    this.count += tokenIds.length;
    return text;
  }

  /** Whatever is left when the stream ends (an incomplete character becomes U+FFFD). */
  flush(): string {
    this.holding = false;
    return this.decoder.decode();
  }

  get tokenCount(): number {
    return this.count;
  }

  private textOf(id: number): string {
    // Most tokens are whole characters: with nothing held back, their text is known without decoding.
    const whole = this.holding ? undefined : this.tokenizer.wholeText(id);
    if (whole !== undefined) return whole;
    const bytes = this.tokenizer.bytesOf(id);
    if (bytes === undefined) return this.flush() + this.tokenizer.specialText(id);
    this.holding = endsInsideCharacter(bytes);
    return this.decoder.decode(bytes, STREAM);
  }
}

const STREAM = { stream: true };

/**
 * Whether a streaming decoder fed `bytes` may be left holding part of a character: their last
 * character is cut short, or they are all continuation bytes (whose start came earlier).
 */
function endsInsideCharacter(bytes: Uint8Array): boolean {
  for (let i = bytes.length - 1; i >= 0 && i >= bytes.length - 4; i--) {
    const byte = bytes[i]!;
    if ((byte & 0xc0) === 0x80) continue; // a continuation byte: the character started further back
    const length = byte < 0x80 ? 1 : byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : 2;
    return bytes.length - i < length;
  }
  return true;
}
