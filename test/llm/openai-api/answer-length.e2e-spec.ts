import { decode, encode } from 'gpt-tokenizer/encoding/o200k_base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { finishes, postJson, postStream } from '../../support/openai-api.js';
import type { ChatChunk, ChatCompletion, TextCompletion } from '../../support/openai-api.js';
import { mockerTokens } from '../../support/mocker-text.js';
import { startPipeline } from '../../support/pipeline-app.js';
import type { PipelineApp } from '../../support/pipeline-app.js';
import { CHAT, COMPLETIONS, chatBody, completionBody } from '../../support/requests.js';

/**
 * How long an answer is: `max_tokens` / `max_completion_tokens` cut it (finish_reason length), else it
 * ends by itself (finish_reason stop).
 */

let pipeline: PipelineApp;

beforeAll(async () => {
  pipeline = await startPipeline();
});
afterAll(() => pipeline.close());

describe('generation behaviour', () => {
  describe('max_tokens', () => {
    it('chat max_tokens caps completion_tokens exactly, finish_reason length', async () => {
      for (const max of [1, 5, 13]) {
        const { json } = await postJson<ChatCompletion>(
          pipeline.url,
          CHAT,
          chatBody('count to ten', { max_tokens: max, seed: 1 }),
        );
        expect(json.usage.completion_tokens).toBe(max);
        expect(json.choices[0]!.finish_reason).toBe('length');
      }
    });

    it('chat max_completion_tokens caps the same way, and wins over max_tokens', async () => {
      const only = await postJson<ChatCompletion>(
        pipeline.url,
        CHAT,
        chatBody('count to ten', { max_completion_tokens: 7, seed: 1 }),
      );
      expect(only.json.usage.completion_tokens).toBe(7);
      expect(only.json.choices[0]!.finish_reason).toBe('length');
      const both = await postJson<ChatCompletion>(
        pipeline.url,
        CHAT,
        chatBody('count to ten', { max_completion_tokens: 3, max_tokens: 9, seed: 1 }),
      );
      expect(both.json.usage.completion_tokens).toBe(3);
      // The capped text is a prefix of the longer one: the same answer, cut.
      expect(only.json.choices[0]!.message.content.startsWith(both.json.choices[0]!.message.content)).toBe(true);
    });

    it('completions max_tokens caps completion_tokens exactly; the text is the mocker answer cut there', async () => {
      const prompt = 'The weather today is';
      const { json } = await postJson<TextCompletion>(
        pipeline.url,
        COMPLETIONS,
        completionBody(prompt, { max_tokens: 6, seed: 42 }),
      );
      expect(json.usage.completion_tokens).toBe(6);
      expect(json.choices[0]!.finish_reason).toBe('length');
      expect(json.choices[0]!.text).toBe(decode(mockerTokens(encode(prompt), 42).slice(0, 6)));
    });

    it('streamed: exactly max_tokens content chunks, then finish_reason length', async () => {
      const { chunks } = await postStream<ChatChunk>(
        pipeline.url,
        CHAT,
        chatBody('count to ten', { max_tokens: 8, seed: 1 }),
      );
      const content = chunks.filter((chunk) => chunk.choices[0]?.delta.content);
      expect(content).toHaveLength(8);
      expect(finishes(chunks)).toEqual([[0, 'length']]);
      expect(chunks.at(-1)!.choices[0]!.finish_reason).toBe('length');
    });
  });

  describe('stopping by itself', () => {
    it('chat without max_tokens: finish_reason stop, the text ends with "."', async () => {
      for (const seed of [1, 2, 3]) {
        const { json } = await postJson<ChatCompletion>(pipeline.url, CHAT, chatBody('say something', { seed }));
        const choice = json.choices[0]!;
        expect(choice.finish_reason).toBe('stop');
        expect(choice.message.content.endsWith('.')).toBe(true);
        expect(json.usage.completion_tokens).toBeGreaterThanOrEqual(16);
        expect(json.usage.completion_tokens).toBeLessThan(160);
      }
    });

    it('completions without max_tokens: 16 tokens at most, as OpenAI and vLLM default, finish_reason length', async () => {
      const prompt = 'Write one sentence';
      const expected = mockerTokens(encode(prompt), 8);
      expect(expected.length).toBeGreaterThan(16);
      const { json } = await postJson<TextCompletion>(pipeline.url, COMPLETIONS, completionBody(prompt, { seed: 8 }));
      expect(json.choices[0]!.finish_reason).toBe('length');
      expect(json.choices[0]!.text).toBe(decode(expected.slice(0, 16)));
      expect(json.usage.completion_tokens).toBe(16);
    });

    it('max_tokens above the natural length: finish_reason stop, the natural length', async () => {
      const prompt = 'Write one sentence';
      const natural = mockerTokens(encode(prompt), 8).length;
      const { json } = await postJson<TextCompletion>(
        pipeline.url,
        COMPLETIONS,
        completionBody(prompt, { seed: 8, max_tokens: 1000 }),
      );
      expect(json.choices[0]!.finish_reason).toBe('stop');
      expect(json.usage.completion_tokens).toBe(natural);
    });
  });
});
