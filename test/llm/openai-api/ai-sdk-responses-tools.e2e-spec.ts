import type { OpenAIProvider } from '@ai-sdk/openai';
import { generateText, Output, stepCountIs, streamText, tool } from 'ai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aiSdkProvider } from '../../support/openai-clients.js';
import { startPipeline } from '../../support/pipeline-app.js';
import { Recipe, recordingWeatherTool, WeatherInput as Weather } from '../../support/tool-schemas.js';
import type { PipelineApp } from '../../support/pipeline-app.js';
import { MODEL } from '../../support/requests.js';

/**
 * The Vercel AI SDK's default OpenAI model (`createOpenAI(...)(modelId)`, which speaks the Responses
 * API) with tools and structured output: a required tool is called with input its zod schema accepts
 * and its result goes back for a text answer, `Output.object` gets an object its schema accepts, and
 * `streamText` puts a streamed call together; with no warning about a setting left out.
 */

let pipeline: PipelineApp;
let model: ReturnType<OpenAIProvider>;

beforeAll(async () => {
  pipeline = await startPipeline({ MOCKER_DECODE_MS_PER_TOKEN: '0' });
  model = aiSdkProvider(pipeline.url)(MODEL);
});
afterAll(() => pipeline.close());

describe('the AI SDK default provider (Responses API): tools and structured output', () => {
  it("generateText with toolChoice 'required': a call whose input the tool's schema accepts, executed", async () => {
    const inputs: unknown[] = [];
    const result = await generateText({
      model,
      prompt: 'What is the weather in Paris?',
      tools: { weather: recordingWeatherTool(inputs) },
      toolChoice: 'required',
      maxRetries: 0,
      headers: { 'X-Request-Id': 'ai-resp-tool-1' },
    });
    expect(result.finishReason).toBe('tool-calls');
    expect(result.toolCalls).toHaveLength(1);
    const [call] = result.toolCalls;
    expect(call!.toolName).toBe('weather');
    expect(call!.toolCallId).toMatch(/^call_/);
    expect(Weather.parse(call!.input)).toEqual(call!.input);
    expect(inputs).toEqual([call!.input]);
    expect(result.toolResults[0]!.output).toEqual({ temperature: 21 });
    expect(result.response.id).toBe('resp_ai-resp-tool-1');
    expect(result.usage.outputTokens).toBeGreaterThan(0);
    expect(result.warnings).toEqual([]);
  });

  it('a tool round trip over two steps: the call, its result sent back, then a text answer', async () => {
    const result = await generateText({
      model,
      prompt: 'What is the weather in Oslo?',
      tools: {
        weather: tool({ inputSchema: Weather, execute: () => Promise.resolve({ temperature: -3 }) }),
      },
      prepareStep: ({ stepNumber }) => ({ toolChoice: stepNumber === 0 ? 'required' : 'none' }),
      stopWhen: stepCountIs(2),
      maxRetries: 0,
    });
    expect(result.steps).toHaveLength(2);
    expect(result.steps[0]!.finishReason).toBe('tool-calls');
    expect(result.steps[0]!.toolResults[0]!.output).toEqual({ temperature: -3 });
    expect(result.finishReason).toBe('stop');
    expect(result.text.length).toBeGreaterThan(0);
    // The second request held the call and its output: its prompt is the longer.
    expect(result.steps[1]!.usage.inputTokens!).toBeGreaterThan(result.steps[0]!.usage.inputTokens!);
  });

  it('generateText with Output.object: an object the zod schema accepts', async () => {
    for (const prompt of ['A recipe, please.', 'Another recipe.']) {
      const result = await generateText({
        model,
        prompt,
        output: Output.object({ schema: Recipe }),
        maxRetries: 0,
      });
      expect(Recipe.parse(result.output)).toEqual(result.output);
      expect(result.finishReason).toBe('stop');
      expect(result.warnings).toEqual([]);
    }
  });

  it("logprobs (providerOptions.openai.logprobs): the text's tokens, whole and streamed", async () => {
    interface Entry {
      token: string;
      logprob: number;
      top_logprobs: Array<{ token: string; logprob: number }>;
    }
    const ask = {
      model,
      prompt: 'Tell me about the sea.',
      providerOptions: { openai: { logprobs: 2 } },
      maxRetries: 0,
    };
    const whole = await generateText(ask);
    const entries = (whole.providerMetadata?.openai?.logprobs as unknown as Entry[][] | undefined)?.flat() ?? [];
    expect(entries.map((entry) => entry.token).join('')).toBe(whole.text);
    expect(entries[0]!.top_logprobs).toHaveLength(2);
    expect(whole.warnings).toEqual([]);
    const streamed = streamText(ask);
    expect(await streamed.text).toBe(whole.text);
    const metadata = await streamed.providerMetadata;
    expect((metadata?.openai?.logprobs as unknown as Entry[][]).flat()).toEqual(entries);
  });

  it('streamText with a named tool: the streamed call is put together', async () => {
    const deltas: string[] = [];
    const result = streamText({
      model,
      prompt: 'What is the weather in Rome?',
      tools: { weather: tool({ inputSchema: Weather }) },
      toolChoice: { type: 'tool', toolName: 'weather' },
      maxRetries: 0,
    });
    for await (const part of result.fullStream) if (part.type === 'tool-input-delta') deltas.push(part.delta);
    const calls = await result.toolCalls;
    expect(calls).toHaveLength(1);
    expect(calls[0]!.toolName).toBe('weather');
    expect(Weather.parse(calls[0]!.input)).toEqual(calls[0]!.input);
    expect(deltas.length).toBeGreaterThan(1);
    expect(JSON.parse(deltas.join(''))).toEqual(calls[0]!.input);
    expect(await result.finishReason).toBe('tool-calls');
    expect(await result.warnings).toEqual([]);
  });
});
