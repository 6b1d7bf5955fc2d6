import type { OpenAIProvider } from '@ai-sdk/openai';
import { generateText, streamText } from 'ai';
import { decode } from 'gpt-tokenizer/encoding/o200k_base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatMessage } from '../../../src/llm/protocol/pipeline.types.js';
import { mockerTokens } from '../../support/mocker-text.js';
import { chatPromptTokens, projectTokenizer } from '../../support/openai-api.js';
import { aiSdkProvider } from '../../support/openai-clients.js';
import { startPipeline } from '../../support/pipeline-app.js';
import type { PipelineApp } from '../../support/pipeline-app.js';
import { MODEL } from '../../support/requests.js';

/**
 * The Vercel AI SDK's default OpenAI model (`createOpenAI(...)(modelId)`, which speaks the Responses
 * API) against the service: `generateText` and `streamText` get the mocker's text for the same
 * conversation, its usage, its finish reason, and no warning about a setting left out.
 */

let pipeline: PipelineApp;
let model: ReturnType<OpenAIProvider>;

beforeAll(async () => {
  pipeline = await startPipeline();
  model = aiSdkProvider(pipeline.url)(MODEL);
});
afterAll(() => pipeline.close());

/** The mocker's whole answer to `messages` (no seed, no limit): its tokens and text. */
function mockerAnswer(messages: ChatMessage[]): { tokens: number; text: string } {
  const tokens = mockerTokens(projectTokenizer.encodeChat(messages), 0);
  return { tokens: tokens.length, text: decode(tokens) };
}

describe('the AI SDK (default OpenAI provider: the Responses API)', () => {
  it('generateText with a prompt: the mocker text, usage, finish reason stop, the response id', async () => {
    const result = await generateText({
      model,
      prompt: 'Tell me about the sea.',
      maxRetries: 0,
      headers: { 'X-Request-Id': 'ai-gen-1' },
    });
    const messages: ChatMessage[] = [{ role: 'user', content: 'Tell me about the sea.' }];
    const answer = mockerAnswer(messages);
    expect(result.text).toBe(answer.text);
    expect(result.finishReason).toBe('stop');
    expect(result.warnings).toEqual([]);
    expect(result.usage.inputTokens).toBe(chatPromptTokens(messages));
    expect(result.usage.outputTokens).toBe(answer.tokens);
    expect(result.response.id).toBe('resp_ai-gen-1');
    expect(result.response.modelId).toBe(MODEL);
    expect(result.response.headers?.['x-request-id']).toBe('ai-gen-1');
  });

  it('generateText with a system prompt and a conversation, the assistant turn sent back', async () => {
    const result = await generateText({
      model,
      system: 'You are terse.',
      messages: [
        { role: 'user', content: 'What is the capital of France?' },
        { role: 'assistant', content: 'Paris.' },
        { role: 'user', content: [{ type: 'text', text: 'And of Italy?' }] },
      ],
      temperature: 0.2,
      maxRetries: 0,
    });
    const messages: ChatMessage[] = [
      { role: 'system', content: 'You are terse.' },
      { role: 'user', content: 'What is the capital of France?' },
      { role: 'assistant', content: 'Paris.' },
      { role: 'user', content: 'And of Italy?' },
    ];
    expect(result.text).toBe(mockerAnswer(messages).text);
    expect(result.usage.inputTokens).toBe(chatPromptTokens(messages));
    expect(result.warnings).toEqual([]);
  });

  it('generateText with maxOutputTokens: cut there, finish reason length', async () => {
    const result = await generateText({ model, prompt: 'Tell me about the sea.', maxOutputTokens: 4, maxRetries: 0 });
    const answer = mockerAnswer([{ role: 'user', content: 'Tell me about the sea.' }]);
    expect(result.finishReason).toBe('length');
    expect(result.usage.outputTokens).toBe(4);
    expect(answer.text.startsWith(result.text)).toBe(true);
    expect(result.text.length).toBeLessThan(answer.text.length);
  });

  it('streamText: the parts join into the mocker text; usage and finish reason at the end', async () => {
    const result = streamText({
      model,
      prompt: 'Sing a song.',
      maxRetries: 0,
      headers: { 'X-Request-Id': 'ai-stream-1' },
    });
    const parts: string[] = [];
    for await (const part of result.textStream) parts.push(part);
    const messages: ChatMessage[] = [{ role: 'user', content: 'Sing a song.' }];
    const answer = mockerAnswer(messages);
    expect(parts.length).toBeGreaterThan(1);
    expect(parts.join('')).toBe(answer.text);
    expect(await result.text).toBe(answer.text);
    expect(await result.finishReason).toBe('stop');
    const usage = await result.usage;
    expect(usage.inputTokens).toBe(chatPromptTokens(messages));
    expect(usage.outputTokens).toBe(answer.tokens);
    expect((await result.response).id).toBe('resp_ai-stream-1');
    expect(await result.warnings).toEqual([]);
  });

  it('streamText with maxOutputTokens: finish reason length', async () => {
    const result = streamText({ model, prompt: 'Sing a song.', maxOutputTokens: 3, maxRetries: 0 });
    let text = '';
    for await (const part of result.textStream) text += part;
    expect(await result.finishReason).toBe('length');
    expect((await result.usage).outputTokens).toBe(3);
    expect(mockerAnswer([{ role: 'user', content: 'Sing a song.' }]).text.startsWith(text)).toBe(true);
  });

  it('a wrong model: generateText rejects with the 404 and its message', async () => {
    const wrong = aiSdkProvider(pipeline.url)('gpt-nope');
    const error = await generateText({ model: wrong, prompt: 'hi', maxRetries: 0 }).then(
      () => undefined,
      (e: unknown) => e as { statusCode?: number; message?: string },
    );
    expect(error?.statusCode).toBe(404);
    expect(error?.message).toContain('gpt-nope');
  });
});
