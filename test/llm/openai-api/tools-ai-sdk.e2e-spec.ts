import type { OpenAIProvider } from '@ai-sdk/openai';
import { generateText, Output, streamText, tool } from 'ai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aiSdkProvider } from '../../support/openai-clients.js';
import { startPipeline } from '../../support/pipeline-app.js';
import { Recipe, recordingWeatherTool, WeatherInput as Weather } from '../../support/tool-schemas.js';
import type { PipelineApp } from '../../support/pipeline-app.js';
import { MODEL } from '../../support/requests.js';

/**
 * The Vercel AI SDK's chat model (`createOpenAI(...).chat(modelId)`, which speaks chat/completions)
 * with tools and structured output: a required tool is called with input its zod schema accepts, and
 * `Output.object` gets an object its schema accepts, with no warning about a setting left out.
 */

let pipeline: PipelineApp;
let model: ReturnType<OpenAIProvider['chat']>;

beforeAll(async () => {
  pipeline = await startPipeline({ MOCKER_DECODE_MS_PER_TOKEN: '0' });
  model = aiSdkProvider(pipeline.url).chat(MODEL);
});
afterAll(() => pipeline.close());

describe('the AI SDK chat model: tools and structured output', () => {
  it("generateText with toolChoice 'required': a tool call whose input the tool's schema accepts", async () => {
    for (const seed of [1, 2, 3]) {
      const inputs: unknown[] = [];
      const result = await generateText({
        model,
        prompt: 'What is the weather in Paris?',
        tools: { weather: recordingWeatherTool(inputs) },
        toolChoice: 'required',
        seed,
        maxRetries: 0,
      });
      expect(result.finishReason).toBe('tool-calls');
      expect(result.toolCalls).toHaveLength(1);
      expect(result.toolCalls[0]!.toolName).toBe('weather');
      expect(Weather.parse(result.toolCalls[0]!.input)).toEqual(result.toolCalls[0]!.input);
      expect(inputs).toEqual([result.toolCalls[0]!.input]);
      expect(result.toolResults[0]!.output).toEqual({ temperature: 21 });
      expect(result.warnings).toEqual([]);
    }
  });

  it('streamText with a required tool: the streamed call is put together', async () => {
    const result = streamText({
      model,
      prompt: 'What is the weather in Rome?',
      tools: { weather: tool({ inputSchema: Weather }) },
      toolChoice: { type: 'tool', toolName: 'weather' },
      seed: 4,
      maxRetries: 0,
    });
    const calls = await result.toolCalls;
    expect(calls).toHaveLength(1);
    expect(Weather.parse(calls[0]!.input)).toBeTruthy();
    expect(await result.finishReason).toBe('tool-calls');
  });

  it('generateText with Output.object: an object the zod schema accepts', async () => {
    for (const seed of [1, 2, 3]) {
      const result = await generateText({
        model,
        prompt: 'A recipe, please.',
        output: Output.object({ schema: Recipe }),
        seed,
        maxRetries: 0,
      });
      expect(Recipe.parse(result.output)).toEqual(result.output);
      expect(result.finishReason).toBe('stop');
      expect(result.warnings).toEqual([]);
    }
  });
});
