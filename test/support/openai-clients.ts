import { createOpenAI } from '@ai-sdk/openai';
import type { OpenAIProvider } from '@ai-sdk/openai';
import OpenAI from 'openai';
import { startPipeline } from './pipeline-app.js';
import type { PipelineApp } from './pipeline-app.js';

/**
 * The clients the OpenAI-API tests call the service with, pointed at `url` (a service's base URL):
 * a retry would hide the very refusal or failure a test looks for, so there is none.
 */

/** The official `openai` client. */
export function openaiClient(url: string): OpenAI {
  return new OpenAI({ baseURL: `${url}/v1`, apiKey: 'test', maxRetries: 0 });
}

/** The Vercel AI SDK's OpenAI provider: `provider(model)` speaks Responses, `provider.chat(model)` chat. */
export function aiSdkProvider(url: string): OpenAIProvider {
  return createOpenAI({ baseURL: `${url}/v1`, apiKey: 'test' });
}

/** The service in-process (`startPipeline(env)`) and the official client of it. */
export async function startPipelineWithClient(
  env: NodeJS.ProcessEnv = {},
): Promise<{ pipeline: PipelineApp; client: OpenAI }> {
  const pipeline = await startPipeline(env);
  return { pipeline, client: openaiClient(pipeline.url) };
}
