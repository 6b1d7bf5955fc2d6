import type { Logger } from '@nestjs/common';
import type { LlmConfig, UpstreamConfig } from '../llm.config.js';

/** The longest the start-up look-up of the upstream's context length may take. */
const LOOKUP_TIMEOUT_MS = 10_000;

/**
 * The context length, in tokens, that prompts are held to: THREADLINE_MAX_MODEL_LEN; with the `openai`
 * engine, the upstream's own when its `GET /models` reports one (vLLM's `max_model_len`). Never fails:
 * an upstream that cannot tell leaves the setting in force, with one warning.
 */
export async function resolveMaxModelLen(config: LlmConfig, logger: Pick<Logger, 'log' | 'warn'>): Promise<number> {
  if (config.engine !== 'openai') return config.maxModelLen;
  try {
    const reported = await upstreamMaxModelLen(config.upstream);
    if (reported !== undefined) {
      logger.log(
        `context length: ${reported} tokens, the max_model_len of ${config.upstream.model} at ${config.upstream.url}`,
      );
      return reported;
    }
    logger.log(
      `context length: ${config.maxModelLen} tokens (THREADLINE_MAX_MODEL_LEN): ${config.upstream.url} reports none for ${config.upstream.model}`,
    );
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    logger.warn(
      `context length: ${config.maxModelLen} tokens (THREADLINE_MAX_MODEL_LEN): the models of ${config.upstream.url} could not be read (${reason})`,
    );
  }
  return config.maxModelLen;
}

/** The `max_model_len` that the upstream's `GET /models` lists for the model, if any. */
async function upstreamMaxModelLen(upstream: UpstreamConfig): Promise<number | undefined> {
  const headers: Record<string, string> =
    upstream.apiKey === undefined ? {} : { authorization: `Bearer ${upstream.apiKey}` };
  const signal = AbortSignal.timeout(Math.min(upstream.timeoutMs, LOOKUP_TIMEOUT_MS));
  const res = await fetch(`${upstream.url}/models`, { headers, signal });
  if (!res.ok) throw new Error(`GET /models answered ${res.status}`);
  const body = (await res.json()) as { data?: unknown };
  const models = Array.isArray(body.data) ? (body.data as Array<{ id?: unknown; max_model_len?: unknown }>) : [];
  const length = models.find((model) => model.id === upstream.model)?.max_model_len;
  return Number.isSafeInteger(length) && (length as number) > 0 ? (length as number) : undefined;
}
