import { Tokenizer } from '../../src/llm/processor/tokenizer.js';
import { MockText } from '../../src/llm/worker/mocker/mock-text.js';

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
