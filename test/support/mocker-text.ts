import { expect } from 'vitest';
import { IncrementalDetokenizer } from '../../src/llm/processor/incremental-detokenizer.js';
import { Tokenizer } from '../../src/llm/processor/tokenizer.js';
import { MockText } from '../../src/llm/worker/mocker/mock-text.js';
import { errorEvents, serviceChunks } from './sse.js';

/** What the mocker answers to a prompt of `promptIds` with `seed`, computed from its own MockText: the token ids. */
export function mockerTokens(promptIds: readonly number[], seed: number): number[] {
  const text = new MockText(promptIds, seed);
  return Array.from({ length: text.length }, (_, position) => text.token(position));
}

/**
 * A seed for which the mocker's answer to `prompt` (a completion) is at least `minTokens` long (its
 * natural length is 16-159): a long answer leaves a lot to stop. `length` is that answer's length.
 */
export function longSeed(prompt: string, minTokens: number): { seed: number; length: number } {
  const promptIds = new Tokenizer().encode(prompt);
  for (let seed = 0; seed < 100_000; seed++) {
    const length = new MockText(promptIds, seed).length;
    if (length >= minTokens) return { seed, length };
  }
  throw new Error(`no seed gives ${minTokens} tokens`);
}

/** A chunk of a streamed completion, as the migration tests read it. */
export interface CompletionChunk {
  id: string;
  choices: Array<{ text: string; finish_reason: string | null }>;
  usage?: { prompt_tokens: number; completion_tokens: number } | null;
}

let sharedTokenizer: Tokenizer | undefined;

/**
 * What an undisturbed run answers to a completions `prompt` with `seed`: the mocker's text, up to
 * `maxTokens`, its token counts and its finish reason.
 */
export function undisturbed(prompt: string, seed: number, maxTokens = Number.POSITIVE_INFINITY) {
  const tokenizer = (sharedTokenizer ??= new Tokenizer());
  const promptIds = tokenizer.encode(prompt);
  const all = mockerTokens(promptIds, seed);
  const tokens = all.slice(0, maxTokens);
  const detokenizer = new IncrementalDetokenizer(tokenizer);
  const text = detokenizer.push(tokens) + detokenizer.flush();
  return {
    text,
    tokens: tokens.length,
    promptTokens: promptIds.length,
    finish: all.length > maxTokens ? 'length' : 'stop',
  };
}

/**
 * Checks the body of request `id`'s completion stream against its undisturbed answer: no error event,
 * one completion id, exactly the expected text, one finish reason, and the usage counted once.
 */
export function expectUndisturbedStream(body: string, id: string, expected: ReturnType<typeof undisturbed>): void {
  expect(errorEvents(body), `${id}: ${body.slice(-300)}`).toEqual([]);
  const chunks = serviceChunks<CompletionChunk>(body);
  expect(new Set(chunks.map((chunk) => chunk.id))).toEqual(new Set([`cmpl-${id}`]));
  const choices = chunks.flatMap((chunk) => chunk.choices);
  expect(choices.map((choice) => choice.text).join(''), id).toBe(expected.text);
  expect(choices.filter((choice) => choice.finish_reason !== null).map((choice) => choice.finish_reason)).toEqual([
    expected.finish,
  ]);
  expect(chunks.at(-1)!.usage, id).toMatchObject({
    prompt_tokens: expected.promptTokens,
    completion_tokens: expected.tokens,
  });
}
