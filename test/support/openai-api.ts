import { encode } from 'gpt-tokenizer/encoding/o200k_base';
import { expect } from 'vitest';
import { Tokenizer } from '../../src/llm/processor/tokenizer.js';
import type { ChatMessage } from '../../src/llm/protocol/pipeline.types.js';
import { send } from './requests.js';
import type { ErrorBody, Reply } from './requests.js';
import { serviceChunks } from './sse.js';

/** What the OpenAI-compatible API sends (only the fields the tests read), and checks of its shapes. */

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details: { cached_tokens: number };
}

export interface ChatCompletion {
  id: string;
  object: string;
  model: string;
  choices: Array<{ index: number; message: { role: string; content: string }; finish_reason: string }>;
  usage: Usage;
}

export interface TextCompletion {
  id: string;
  object: string;
  model: string;
  choices: Array<{ index: number; text: string; finish_reason: string }>;
  usage: Usage;
}

export interface ChatChunk {
  id: string;
  object: string;
  model: string;
  choices: Array<{ index: number; delta: { role?: string; content?: string }; finish_reason: string | null }>;
  usage?: Usage;
}

export interface TextChunk {
  id: string;
  object: string;
  model: string;
  choices: Array<{ index: number; text: string; finish_reason: string | null }>;
  usage?: Usage;
}

/** POSTs `body` and expects a 200 with a JSON body; returns the reply and the parsed body. */
export async function postJson<T>(
  url: string,
  path: string,
  body: object,
  id?: string,
): Promise<{ res: Reply; json: T }> {
  const res = await send(url, path, body, { id });
  expect(res.status, res.text).toBe(200);
  expect(res.contentType).toBe('application/json; charset=utf-8');
  return { res, json: JSON.parse(res.text) as T };
}

/** POSTs `body` with `stream: true` and expects a 200 stream that ends well (see `serviceChunks`); returns its chunks. */
export async function postStream<T>(
  url: string,
  path: string,
  body: object,
  id?: string,
): Promise<{ res: Reply; chunks: T[] }> {
  const res = await send(url, path, { ...body, stream: true }, { id });
  expect(res.status, res.text).toBe(200);
  expect(res.contentType).toBe('text/event-stream; charset=utf-8');
  return { res, chunks: serviceChunks<T>(res.text) };
}

/** The text of each choice of a chat stream, by index, from its content deltas. */
export function chatStreamTexts(chunks: ChatChunk[]): Map<number, string> {
  const texts = new Map<number, string>();
  for (const chunk of chunks) {
    for (const choice of chunk.choices)
      texts.set(choice.index, (texts.get(choice.index) ?? '') + (choice.delta.content ?? ''));
  }
  return texts;
}

/** The finish chunks of a stream, as `[index, reason]` in stream order. */
export function finishes(chunks: Array<ChatChunk | TextChunk>): Array<[number, string]> {
  return chunks.flatMap((chunk) =>
    chunk.choices
      .filter((choice) => choice.finish_reason !== null)
      .map((choice): [number, string] => [choice.index, choice.finish_reason!]),
  );
}

/**
 * Reads a completions stream from the official `openai` client, expecting every chunk to carry
 * `cmpl-<id>`; returns the chunks' text joined and the last chunk's finish_reason.
 */
export async function readSdkCompletions(
  stream: AsyncIterable<{ id: string; choices: Array<{ text: string; finish_reason: string | null }> }>,
  id: string,
): Promise<{ text: string; finishReason: string | null }> {
  let text = '';
  let finishReason: string | null = null;
  for await (const chunk of stream) {
    expect(chunk.id).toBe(`cmpl-${id}`);
    text += chunk.choices[0]!.text;
    finishReason = chunk.choices[0]!.finish_reason;
  }
  return { text, finishReason };
}

/** Expects an OpenAI error body with exactly its four fields, of type invalid_request_error unless `expected` says otherwise. */
export function expectOpenAIError(
  res: Reply,
  status: number,
  expected: Partial<ErrorBody['error']>,
): ErrorBody['error'] {
  expect(res.status, res.text).toBe(status);
  expect(res.contentType).toBe('application/json; charset=utf-8');
  const body = JSON.parse(res.text) as ErrorBody;
  expect(Object.keys(body)).toEqual(['error']);
  expect(Object.keys(body.error).sort()).toEqual(['code', 'message', 'param', 'type']);
  expect(typeof body.error.message).toBe('string');
  expect(body.error.message.length).toBeGreaterThan(0);
  expect(body.error).toMatchObject({ type: 'invalid_request_error', ...expected });
  return body.error;
}

/** Splits text into pieces that each start at a space (" word", " word."), as the mocker's words are. */
export function spacePieces(text: string): string[] {
  return text.split(/(?= )/);
}

export const projectTokenizer = new Tokenizer();

/** The prompt token count the service should report for a chat: the project's template and tokenizer. */
export function chatPromptTokens(messages: ChatMessage[]): number {
  return projectTokenizer.encodeChat(messages).length;
}

const CHATML_SPECIAL: Record<string, number> = { '<|im_start|>': 200003, '<|im_end|>': 200004 };

/**
 * The ChatML template tokenised as o200k chat models see it, computed independently of any special-token
 * handling in the tokenizer library: each `<|im_start|>` / `<|im_end|>` is ONE special token (o200k_base's
 * ids 200003 / 200004), the text between them is ordinary BPE.
 */
export function chatMLTokenIds(template: string): number[] {
  return template
    .split(/(<\|im_start\|>|<\|im_end\|>)/)
    .filter((part) => part !== '')
    .flatMap((part) => (part in CHATML_SPECIAL ? [CHATML_SPECIAL[part]!] : encode(part)));
}
