import type { Logger } from '@nestjs/common';
import type { LlmConfig, UpstreamConfig } from '../llm.config.js';

/** The longest one look-up of the upstream's context length may take. */
const LOOKUP_TIMEOUT_MS = 10_000;

/** The wait before the first retry of a failed look-up, doubled after each failure up to the longest. */
const FIRST_RETRY_MS = 1_000;
const LONGEST_RETRY_MS = 60_000;

/**
 * The context length, in tokens, that prompts are held to: THREADLINE_MAX_MODEL_LEN; with the `openai`
 * engine, the upstream's own once its `GET /models` reports one (vLLM's `max_model_len`). The look-up runs
 * in the background, tried again with a growing wait until the upstream answers (it may start after this
 * service), so that no request waits for it: until then the setting holds.
 */
export class ContextLimit {
  private current: number;
  private timer: NodeJS.Timeout | undefined;
  private readonly stopped = new AbortController();

  constructor(
    private readonly config: LlmConfig,
    private readonly logger: Pick<Logger, 'log' | 'warn' | 'debug'>,
  ) {
    this.current = config.maxModelLen;
  }

  /** The context length known now. */
  get value(): number {
    return this.current;
  }

  /** Starts the look-up, with the `openai` engine (nothing to look up otherwise). */
  start(): void {
    if (this.config.engine === 'openai') void this.lookUp(FIRST_RETRY_MS, 1);
  }

  stop(): void {
    this.stopped.abort();
    clearTimeout(this.timer);
  }

  private async lookUp(nextWaitMs: number, attempt: number): Promise<void> {
    const { upstream, maxModelLen } = this.config;
    try {
      const reported = await upstreamMaxModelLen(upstream, this.stopped.signal);
      if (reported !== undefined) {
        this.current = reported;
        this.logger.log(
          `context length: ${reported} tokens, the max_model_len of ${upstream.model} at ${upstream.url}`,
        );
      } else {
        this.logger.log(
          `context length: ${maxModelLen} tokens (THREADLINE_MAX_MODEL_LEN): ${upstream.url} reports none for ${upstream.model}`,
        );
      }
    } catch (error) {
      if (this.stopped.signal.aborted) return;
      const reason = error instanceof Error ? error.message : String(error);
      const message = `context length: ${maxModelLen} tokens (THREADLINE_MAX_MODEL_LEN) for now: the models of ${upstream.url} could not be read (${reason}); trying again in ${nextWaitMs} ms`;
      // Once as a warning; an upstream down for long would fill the log otherwise.
      if (attempt === 1) this.logger.warn(message);
      else this.logger.debug(message);
      this.timer = setTimeout(
        () => void this.lookUp(Math.min(nextWaitMs * 2, LONGEST_RETRY_MS), attempt + 1),
        nextWaitMs,
      );
      this.timer.unref();
    }
  }
}

/** The `max_model_len` that the upstream's `GET /models` lists for the model, if any. */
async function upstreamMaxModelLen(upstream: UpstreamConfig, stopped: AbortSignal): Promise<number | undefined> {
  const headers: Record<string, string> =
    upstream.apiKey === undefined ? {} : { authorization: `Bearer ${upstream.apiKey}` };
  const signal = AbortSignal.any([stopped, AbortSignal.timeout(Math.min(upstream.timeoutMs, LOOKUP_TIMEOUT_MS))]);
  const res = await fetch(`${upstream.url}/models`, { headers, signal });
  if (!res.ok) throw new Error(`GET /models answered ${res.status}`);
  const body = (await res.json()) as { data?: unknown };
  const models = Array.isArray(body.data) ? (body.data as Array<{ id?: unknown; max_model_len?: unknown }>) : [];
  const length = models.find((model) => model.id === upstream.model)?.max_model_len;
  return Number.isSafeInteger(length) && (length as number) > 0 ? (length as number) : undefined;
}
