import { decode, encode } from 'gpt-tokenizer/encoding/o200k_base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chatStreamTexts, finishes, postJson, postStream, spacePieces } from '../../support/openai-api.js';
import type { ChatChunk, ChatCompletion, TextChunk, TextCompletion } from '../../support/openai-api.js';
import { mockerTokens } from '../../support/mocker-text.js';
import { startPipeline } from '../../support/pipeline-app.js';
import type { PipelineApp } from '../../support/pipeline-app.js';
import { CHAT, COMPLETIONS, chatBody, completionBody } from '../../support/requests.js';

/**
 * `stop`: the answer ends before the first stop sequence, of one token or several, streamed or not.
 */

let pipeline: PipelineApp;

beforeAll(async () => {
  pipeline = await startPipeline();
});
afterAll(() => pipeline.close());

describe('generation behaviour', () => {
  describe('stop sequences', () => {
    const prompt = 'Tell me about the sea';

    async function reference(): Promise<string> {
      const { json } = await postJson<ChatCompletion>(pipeline.url, CHAT, chatBody(prompt, { seed: 4 }));
      const text = json.choices[0]!.message.content;
      expect(spacePieces(text).length).toBeGreaterThan(10);
      return text;
    }

    it('a word from the middle as stop: the text is exactly the prefix before it, finish_reason stop', async () => {
      const full = await reference();
      const pieces = spacePieces(full);
      const stop = pieces[Math.floor(pieces.length / 2)]!; // e.g. " water" (with its leading space)
      const expected = full.slice(0, full.indexOf(stop));
      expect(expected.length).toBeGreaterThan(0);
      expect(expected.length).toBeLessThan(full.length);

      const { json } = await postJson<ChatCompletion>(pipeline.url, CHAT, chatBody(prompt, { seed: 4, stop }));
      expect(json.choices[0]!.message.content).toBe(expected);
      expect(json.choices[0]!.finish_reason).toBe('stop');

      const { chunks } = await postStream<ChatChunk>(pipeline.url, CHAT, chatBody(prompt, { seed: 4, stop }));
      expect(chatStreamTexts(chunks).get(0)).toBe(expected);
      expect(finishes(chunks)).toEqual([[0, 'stop']]);
    });

    it('a stop spanning two tokens, as a one-element array: nothing of it is sent, streamed or not', async () => {
      const full = await reference();
      const pieces = spacePieces(full);
      const middle = Math.floor(pieces.length / 2);
      const stop = `${pieces[middle]}${pieces[middle + 1]}`;
      const expected = full.slice(0, full.indexOf(stop));
      const { json } = await postJson<ChatCompletion>(pipeline.url, CHAT, chatBody(prompt, { seed: 4, stop: [stop] }));
      expect(json.choices[0]!.message.content).toBe(expected);
      expect(json.choices[0]!.finish_reason).toBe('stop');
      const { chunks } = await postStream<ChatChunk>(pipeline.url, CHAT, chatBody(prompt, { seed: 4, stop: [stop] }));
      expect(chatStreamTexts(chunks).get(0)).toBe(expected);
    });

    it('several stops: generation stops at the first one to appear', async () => {
      const full = await reference();
      const pieces = spacePieces(full);
      const early = pieces[Math.floor(pieces.length / 3)]!;
      const late = pieces[Math.floor((pieces.length * 2) / 3)]!;
      const expected = full.slice(0, Math.min(full.indexOf(early), full.indexOf(late)));
      const { json } = await postJson<ChatCompletion>(
        pipeline.url,
        CHAT,
        chatBody(prompt, { seed: 4, stop: [late, 'zzzz-never', early] }),
      );
      expect(json.choices[0]!.message.content).toBe(expected);
      expect(json.choices[0]!.finish_reason).toBe('stop');
    });

    it('a stop that never appears changes nothing (held-back text is flushed at the end)', async () => {
      const full = await reference();
      const { json } = await postJson<ChatCompletion>(
        pipeline.url,
        CHAT,
        chatBody(prompt, { seed: 4, stop: ['zzzz-never-appears'] }),
      );
      expect(json.choices[0]!.message.content).toBe(full);
      expect(json.choices[0]!.finish_reason).toBe('stop');
      const capped = await postJson<ChatCompletion>(pipeline.url, CHAT, chatBody(prompt, { seed: 4, max_tokens: 5 }));
      const cappedWithStop = await postJson<ChatCompletion>(
        pipeline.url,
        CHAT,
        chatBody(prompt, { seed: 4, max_tokens: 5, stop: 'zzzz-never-appears' }),
      );
      expect(cappedWithStop.json.choices[0]!.message.content).toBe(capped.json.choices[0]!.message.content);
      expect(cappedWithStop.json.choices[0]!.finish_reason).toBe('length');
    });

    it('completions: stop works the same way', async () => {
      const cprompt = 'A story about a house';
      const full = decode(mockerTokens(encode(cprompt), 6));
      const pieces = spacePieces(full);
      const stop = pieces[Math.floor(pieces.length / 2)]!;
      const expected = full.slice(0, full.indexOf(stop));
      const { json } = await postJson<TextCompletion>(
        pipeline.url,
        COMPLETIONS,
        completionBody(cprompt, { seed: 6, stop, max_tokens: 1000 }),
      );
      expect(json.choices[0]!.text).toBe(expected);
      expect(json.choices[0]!.finish_reason).toBe('stop');
      const { chunks } = await postStream<TextChunk>(
        pipeline.url,
        COMPLETIONS,
        completionBody(cprompt, { seed: 6, stop, max_tokens: 1000 }),
      );
      expect(chunks.map((chunk) => chunk.choices[0]!.text).join('')).toBe(expected);
      expect(finishes(chunks)).toEqual([[0, 'stop']]);
    });
  });
});
