import { encode } from 'gpt-tokenizer/encoding/o200k_base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatMessage } from '../../../src/llm/protocol/pipeline.types.js';
import { chatMLTokenIds, chatPromptTokens, postJson } from '../../support/openai-api.js';
import type { ChatCompletion, TextCompletion } from '../../support/openai-api.js';
import { startPipeline } from '../../support/pipeline-app.js';
import type { PipelineApp } from '../../support/pipeline-app.js';
import { CHAT, COMPLETIONS, MODEL, chatBody, completionBody, send } from '../../support/requests.js';

/**
 * Determinism (the same prompt and seed give the same text, whichever worker serves it), the sampling
 * parameters accepted, and the completions prompt forms.
 */

// Four workers taken in turn, so that four requests in a row are served by four different workers.
const WORKERS = 4;
let pipeline: PipelineApp;

beforeAll(async () => {
  pipeline = await startPipeline({
    LOG_LEVEL: 'debug',
    THREADLINE_WORKERS: String(WORKERS),
    THREADLINE_ROUTER: 'round-robin',
  });
});
afterAll(() => pipeline.close());

describe('generation behaviour', () => {
  describe('determinism, temperature and seed', () => {
    it('the same prompt and seed give the same text, on every worker; another seed gives another text', async () => {
      const texts: string[] = [];
      const ids = Array.from({ length: WORKERS }, (_, i) => `same-seed-${i}`);
      for (const id of ids) {
        const { json } = await postJson<ChatCompletion>(
          pipeline.url,
          CHAT,
          chatBody('Describe a river', { seed: 31 }),
          id,
        );
        texts.push(json.choices[0]!.message.content);
      }
      expect(new Set(texts).size).toBe(1);
      // Each of the workers answered one of them: the instance id on its "handling worker.generate" line.
      const servedBy = ids.map(
        (id) => pipeline.logs.forRequest(id).find((line) => line.msg === 'handling worker.generate')?.instanceId,
      );
      expect(servedBy.every((instance) => typeof instance === 'string')).toBe(true);
      expect(new Set(servedBy).size).toBe(WORKERS);
      const other = await postJson<ChatCompletion>(pipeline.url, CHAT, chatBody('Describe a river', { seed: 32 }));
      expect(other.json.choices[0]!.message.content).not.toBe(texts[0]);
      const otherPrompt = await postJson<ChatCompletion>(pipeline.url, CHAT, chatBody('Describe a lake', { seed: 31 }));
      expect(otherPrompt.json.choices[0]!.message.content).not.toBe(texts[0]);
    });

    it('temperature and seed are accepted (0, 0.7, 2; a negative and a large seed)', async () => {
      for (const temperature of [0, 0.7, 2]) {
        const { json } = await postJson<ChatCompletion>(
          pipeline.url,
          CHAT,
          chatBody('Describe a river', { temperature, seed: 31, max_tokens: 6 }),
        );
        expect(json.usage.completion_tokens).toBe(6);
      }
      for (const seed of [-5, 0, 2 ** 40]) {
        const { json } = await postJson<TextCompletion>(
          pipeline.url,
          COMPLETIONS,
          completionBody('Describe a river', { temperature: 1.3, seed, max_tokens: 6 }),
        );
        expect(json.usage.completion_tokens).toBe(6);
      }
    });
  });

  describe('completions prompt forms', () => {
    it('a prompt of token ids gives the same answer as the text it encodes', async () => {
      const prompt = 'The quick brown fox';
      const ids = encode(prompt);
      const fromText = await postJson<TextCompletion>(
        pipeline.url,
        COMPLETIONS,
        completionBody(prompt, { seed: 2, max_tokens: 10 }),
      );
      const fromIds = await postJson<TextCompletion>(
        pipeline.url,
        COMPLETIONS,
        completionBody(ids, { seed: 2, max_tokens: 10 }),
        'ids-1',
      );
      expect(fromIds.res.requestId).toBe('ids-1');
      expect(fromIds.json.id).toBe('cmpl-ids-1');
      expect(fromIds.json.choices[0]!.text).toBe(fromText.json.choices[0]!.text);
      expect(fromIds.json.usage.prompt_tokens).toBe(ids.length);
      expect(fromIds.json.usage.completion_tokens).toBe(10);
    });

    it('a one-string array prompt is the string', async () => {
      const a = await postJson<TextCompletion>(
        pipeline.url,
        COMPLETIONS,
        completionBody('hello world', { seed: 2, max_tokens: 5 }),
      );
      const b = await postJson<TextCompletion>(pipeline.url, COMPLETIONS, {
        model: MODEL,
        prompt: ['hello world'],
        seed: 2,
        max_tokens: 5,
      });
      expect(b.json.choices[0]!.text).toBe(a.json.choices[0]!.text);
    });

    it('a batch of one list of token ids is those ids', async () => {
      const ids = encode('hello world');
      const a = await postJson<TextCompletion>(
        pipeline.url,
        COMPLETIONS,
        completionBody(ids, { seed: 2, max_tokens: 5 }),
      );
      const b = await postJson<TextCompletion>(pipeline.url, COMPLETIONS, {
        model: MODEL,
        prompt: [ids],
        seed: 2,
        max_tokens: 5,
      });
      expect(b.res.status).toBe(200);
      expect(b.json.choices[0]!.text).toBe(a.json.choices[0]!.text);
      expect(b.json.usage.prompt_tokens).toBe(ids.length);
    });
  });

  describe("vLLM's chat template parameters", () => {
    const conversation = [
      { role: 'user', content: 'Capital of France?' },
      { role: 'assistant', content: 'The capital' },
    ];
    const promptOf = (body: object) =>
      postJson<ChatCompletion>(pipeline.url, CHAT, { model: MODEL, messages: conversation, max_tokens: 4, ...body });

    it('continue_final_message with add_generation_prompt false: the last message is left open for the answer to go on', async () => {
      const continued = await promptOf({ continue_final_message: true, add_generation_prompt: false });
      expect(continued.res.status).toBe(200);
      expect(continued.json.usage.prompt_tokens).toBe(
        chatMLTokenIds('<|im_start|>user\nCapital of France?<|im_end|>\n<|im_start|>assistant\nThe capital').length,
      );
      const unopened = await promptOf({ add_generation_prompt: false });
      expect(unopened.json.usage.prompt_tokens).toBe(
        chatMLTokenIds('<|im_start|>user\nCapital of France?<|im_end|>\n<|im_start|>assistant\nThe capital<|im_end|>\n')
          .length,
      );
      const usual = await promptOf({ add_generation_prompt: true, continue_final_message: false });
      expect(usual.json.usage.prompt_tokens).toBe(chatPromptTokens(conversation as ChatMessage[]));
    });

    it("refuses both at once, and a final message to continue that is not the assistant's, as vLLM does", async () => {
      const both = await send(pipeline.url, CHAT, {
        model: MODEL,
        messages: conversation,
        continue_final_message: true,
      });
      expect(both.status).toBe(400);
      expect(both.text).toContain('continue_final_message and add_generation_prompt cannot both be true');
      const userLast = await send(pipeline.url, CHAT, {
        model: MODEL,
        messages: [{ role: 'user', content: 'hi' }],
        continue_final_message: true,
        add_generation_prompt: false,
      });
      expect(userLast.status).toBe(400);
      expect(userLast.text).toContain("continue_final_message needs the last message to be the assistant's");
    });
  });

  describe('chat content forms', () => {
    it("text parts are one text, joined by line breaks as vLLM joins them: that text's answer and count", async () => {
      const ask = (content: unknown) =>
        postJson<ChatCompletion>(pipeline.url, CHAT, {
          model: MODEL,
          messages: [{ role: 'user', content }],
          seed: 3,
          max_tokens: 12,
        });
      const parts = await ask([
        { type: 'text', text: 'Capital of' },
        { type: 'text', text: 'France?' },
      ]);
      const joined = await ask('Capital of\nFrance?');
      const run = await ask('Capital ofFrance?');
      expect(parts.json.choices[0]!.message.content).toBe(joined.json.choices[0]!.message.content);
      expect(parts.json.usage.prompt_tokens).toBe(joined.json.usage.prompt_tokens);
      expect(parts.json.usage.prompt_tokens).not.toBe(run.json.usage.prompt_tokens);
    });
  });
});
