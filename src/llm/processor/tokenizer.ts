import { decode, encode, ImEnd, ImStart } from 'gpt-tokenizer/encoding/o200k_base';
import { InvalidRequestError } from '../protocol/invalid-request.error.js';
import type { ChatMessage, ChatTemplateOptions, ChatTool } from '../protocol/pipeline.types.js';
import { encodeBounded } from './bounded-bpe.mjs';
import { TEXT } from './tokenizer.worker.mjs';
import { chatTemplateParts } from './chat-template.js';
import type { TemplatePart } from './chat-template.js';
import { bytesOfToken, longestTokenBytes } from './token-bytes.js';

/**
 * The chat template's special tokens and their ids. Looked up one at a time: gpt-tokenizer 4 finds a
 * special token only at the start of the text or right after another (its regex is sticky).
 */
const SPECIAL_IDS = new Map([ImStart, ImEnd].map((token) => [token, encode(token, { allowedSpecial: 'all' })[0]!]));

/** The vocabulary size of o200k_base; token ids at or above it cannot be decoded. */
export const VOCABULARY_SIZE = 200_019;

/** The texts of a template's parts, in order, to be encoded. */
export function templateTexts(parts: readonly TemplatePart[]): string[] {
  return parts.flatMap((part) => ('text' in part ? [part.text] : []));
}

/** A template as the tokenizer threads take it (`EncodeTask.template`): each marker's id, TEXT for each text. */
export function templateLayout(parts: readonly TemplatePart[]): number[] {
  return parts.map((part) => ('special' in part ? SPECIAL_IDS.get(part.special)! : TEXT));
}

/** The token ids of a template: each marker's special token, and the given ids of its texts, in order. */
export function joinTemplate(parts: readonly TemplatePart[], textIds: readonly number[][]): number[] {
  const ids: number[] = [];
  let text = 0;
  for (const part of parts) {
    if ('special' in part) ids.push(SPECIAL_IDS.get(part.special)!);
    else for (const id of textIds[text++]!) ids.push(id);
  }
  return ids;
}

/**
 * The fewest tokens a template can encode to, known without encoding it: no token holds more bytes than
 * the longest. When its characters alone show more than `enough` tokens, that lower count: a character
 * is a byte at least, and counting the bytes of a long text costs a pass over it on the event loop.
 */
export function fewestTokens(parts: readonly TemplatePart[], enough = Number.POSITIVE_INFINITY): number {
  const texts = templateTexts(parts);
  const specials = parts.length - texts.length;
  const characters = texts.reduce((sum, text) => sum + text.length, 0);
  const byCharacters = specials + Math.ceil(characters / longestTokenBytes());
  if (byCharacters > enough) return byCharacters;
  const bytes = texts.reduce((sum, text) => sum + Buffer.byteLength(text, 'utf8'), 0);
  return specials + Math.ceil(bytes / longestTokenBytes());
}

/**
 * A real BPE tokenizer (OpenAI's o200k_base, from the `gpt-tokenizer` package), so that prompt and
 * completion token counts are the ones a client would compute. Special tokens in a chat template are
 * encoded as special tokens; in user text they are plain text.
 */
export class Tokenizer {
  /** Per token id: its text when its bytes are whole UTF-8 characters by themselves, else null. */
  private readonly wholeTexts: Array<string | null> = [];
  private readonly strictDecoder = new TextDecoder('utf-8', { fatal: true });

  constructor() {
    longestTokenBytes(); // load the byte table and find its longest token at start-up, not on the first request
  }

  /** Token ids of plain text: any special-token markers in it are encoded as text. Linear in its length. */
  encode(text: string): number[] {
    return encodeBounded(text);
  }

  /** Token ids of a conversation in the chat template, its markers as special tokens. */
  encodeChat(messages: readonly ChatMessage[], tools?: readonly ChatTool[], ending?: ChatTemplateOptions): number[] {
    const parts = chatTemplateParts(messages, tools, ending);
    return joinTemplate(parts, templateTexts(parts).map(encodeBounded));
  }

  /** The bytes of a token; `undefined` for special tokens, which have text but no bytes. */
  bytesOf(tokenId: number): Uint8Array | undefined {
    return bytesOfToken(tokenId);
  }

  /**
   * The text of a token whose bytes are whole characters (most tokens: a word, a space and a word),
   * worked out once per token id; `undefined` for a token holding part of a character, or none.
   */
  wholeText(tokenId: number): string | undefined {
    let text = this.wholeTexts[tokenId];
    if (text === undefined) {
      text = this.decodeWhole(tokenId);
      this.wholeTexts[tokenId] = text;
    }
    return text ?? undefined;
  }

  private decodeWhole(tokenId: number): string | null {
    const bytes = this.bytesOf(tokenId);
    if (bytes === undefined) return null;
    try {
      return this.strictDecoder.decode(bytes);
    } catch {
      return null; // not whole characters: part of one, or bytes that are no UTF-8
    }
  }

  /** The text of a special token (such as `<|im_end|>`). */
  specialText(tokenId: number): string {
    return decode([tokenId]);
  }

  /** Checks token ids sent by a client (a completions prompt may be token ids). */
  checkIds(tokenIds: readonly number[], param: string): void {
    const bad = tokenIds.find((id) => id >= VOCABULARY_SIZE);
    if (bad !== undefined)
      throw new InvalidRequestError(`Token id ${bad} is outside the vocabulary (0-${VOCABULARY_SIZE - 1}).`, param);
  }
}
