import { decode, encode } from 'gpt-tokenizer/encoding/o200k_base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chatStreamTexts, finishes, postJson, postStream } from '../../support/openai-api.js';
import type { ChatChunk, ChatCompletion, TextChunk, TextCompletion } from '../../support/openai-api.js';
import { mockerTokens } from '../../support/mocker-text.js';
import { startPipeline } from '../../support/pipeline-app.js';
import type { PipelineApp } from '../../support/pipeline-app.js';
import { CHAT, COMPLETIONS, chatBody, completionBody } from '../../support/requests.js';

/**
 * `n`: several choices in one answer, streamed and not, each the answer of its own seed.
 */

let pipeline: PipelineApp;

beforeAll(async () => {
  pipeline = await startPipeline();
});
afterAll(() => pipeline.close());

describe('generation behaviour', () => {
  describe('n', () => {
    it('chat, n: 3: three choices, indexes 0..2, choice i is the n: 1 answer for seed + i', async () => {
      const { json } = await postJson<ChatCompletion>(
        pipeline.url,
        CHAT,
        chatBody('three answers', { n: 3, seed: 20, max_tokens: 12 }),
        'n-chat-1',
      );
      expect(json.choices.map((choice) => choice.index)).toEqual([0, 1, 2]);
      for (const choice of json.choices) {
        expect(choice.message.role).toBe('assistant');
        expect(choice.finish_reason).toBe('length');
        const single = await postJson<ChatCompletion>(
          pipeline.url,
          CHAT,
          chatBody('three answers', { seed: 20 + choice.index, max_tokens: 12 }),
        );
        expect(choice.message.content).toBe(single.json.choices[0]!.message.content);
      }
      expect(new Set(json.choices.map((choice) => choice.message.content)).size).toBe(3);
      expect(json.usage.completion_tokens).toBe(36);
      expect(json.usage.total_tokens).toBe(json.usage.prompt_tokens + 36);
    });

    it('completions, n: 3: three choices, indexes 0..2', async () => {
      const { json } = await postJson<TextCompletion>(
        pipeline.url,
        COMPLETIONS,
        completionBody('three answers', { n: 3, seed: 5, max_tokens: 4 }),
      );
      expect(json.choices.map((choice) => choice.index)).toEqual([0, 1, 2]);
      expect(json.choices.map((choice) => choice.finish_reason)).toEqual(['length', 'length', 'length']);
      expect(json.usage.completion_tokens).toBe(12);
      const promptIds = encode('three answers');
      json.choices.forEach((choice, index) =>
        expect(choice.text).toBe(decode(mockerTokens(promptIds, 5 + index).slice(0, 4))),
      );
    });

    it('chat, n: 3 streamed: one role chunk and one finish chunk per choice, texts as non-streamed', async () => {
      const body = chatBody('three streamed answers', { n: 3, seed: 9 });
      const { json } = await postJson<ChatCompletion>(pipeline.url, CHAT, body);
      const { chunks } = await postStream<ChatChunk>(pipeline.url, CHAT, body, 'n-stream-1');
      for (const chunk of chunks) expect(chunk.choices).toHaveLength(1);
      const roles = chunks.filter((chunk) => chunk.choices[0]!.delta.role !== undefined);
      expect(roles.map((chunk) => chunk.choices[0]!.index)).toEqual([0, 1, 2]);
      for (const chunk of roles) expect(chunk.choices[0]!.delta).toEqual({ role: 'assistant', content: '' });
      const finished = finishes(chunks);
      expect(finished.map(([index]) => index).sort()).toEqual([0, 1, 2]);
      for (const [, reason] of finished) expect(reason).toBe('stop');
      // A choice's finish chunk comes after all of its content, and carries none.
      for (const [index] of finished) {
        const at = chunks.findIndex(
          (chunk) => chunk.choices[0]!.index === index && chunk.choices[0]!.finish_reason !== null,
        );
        expect(chunks[at]!.choices[0]!.delta).toEqual({});
        expect(chunks.slice(at + 1).some((chunk) => chunk.choices[0]!.index === index)).toBe(false);
      }
      const texts = chatStreamTexts(chunks);
      expect([...texts.keys()].sort()).toEqual([0, 1, 2]);
      for (const choice of json.choices) expect(texts.get(choice.index)).toBe(choice.message.content);
    });

    it('completions, n: 3 streamed: a finish chunk per choice', async () => {
      const { chunks } = await postStream<TextChunk>(
        pipeline.url,
        COMPLETIONS,
        completionBody('abc', { n: 3, max_tokens: 5 }),
      );
      const finished = finishes(chunks);
      expect(finished.map(([index]) => index).sort()).toEqual([0, 1, 2]);
      for (const [, reason] of finished) expect(reason).toBe('length');
      for (const index of [0, 1, 2]) {
        expect(
          chunks.filter((chunk) => chunk.choices[0]!.index === index && chunk.choices[0]!.text !== ''),
        ).toHaveLength(5);
      }
    });
  });
});
