import { setImmediate as yieldToLoop, setTimeout as sleep } from 'node:timers/promises';
import { RequestTracingMixin, Traced } from '../../../tracing/index.js';
import type { MockerConfig } from '../../llm.config.js';
import type { GenerateOutput, GenerateRequest } from '../../protocol/pipeline.types.js';
import type { LlmEngine } from '../llm-engine.js';
import { MockText } from './mock-text.js';
import { SequenceScheduler } from './sequence-scheduler.js';

/** With no decode delay, let other requests run every this many tokens. */
const TOKENS_PER_YIELD = 16;

/**
 * Simulates an LLM engine without a GPU, as Dynamo's mocker does: a limit on concurrent sequences with
 * a waiting queue, a prefill time that grows with the prompt, a per-token decode time, and deterministic
 * text for a given prompt and seed.
 */
export class MockerEngine extends RequestTracingMixin() implements LlmEngine {
  private readonly scheduler: SequenceScheduler;

  constructor(
    private readonly config: MockerConfig,
    readonly instanceId: string,
  ) {
    super();
    this.scheduler = new SequenceScheduler(config.maxRunning, config.maxWaiting);
  }

  get load(): { running: number; waiting: number } {
    return this.scheduler.load;
  }

  @Traced()
  async *generate(request: GenerateRequest, signal: AbortSignal): AsyncGenerator<GenerateOutput> {
    const release = await this.scheduler.acquire(signal).catch((error: unknown) => {
      if (signal.aborted) return undefined; // cancelled while waiting: nothing to generate
      throw error;
    });
    if (release === undefined) return;
    const text = new MockText(request.tokenIds, request.seed ?? 0);
    const limit = Math.min(request.maxTokens ?? Number.POSITIVE_INFINITY, text.length);
    let produced = 0;
    try {
      await this.pause((request.tokenIds.length * this.config.prefillUsPerToken) / 1000, signal);
      this.logWithRequestId('debug', 'prefill done', { instanceId: this.instanceId, promptTokens: request.tokenIds.length });
      while (produced < limit) {
        if (produced > 0) await this.pause(this.config.decodeMsPerToken, signal, produced);
        const token = text.token(produced++);
        const finishReason = produced < limit ? undefined : limit === text.length ? 'stop' : 'length';
        yield produced === 1 ? { tokenIds: [token], finishReason, cachedTokens: 0 } : { tokenIds: [token], finishReason };
      }
    } catch (error) {
      // A cancelled request ends its stream quietly: the caller has gone and wants nothing more.
      if (!signal.aborted) throw error;
    } finally {
      release();
      const outcome = produced < limit ? `stopped after ${produced} of ${limit} tokens: request cancelled` : `finished: ${produced} tokens`;
      this.logWithRequestId(produced < limit ? 'info' : 'debug', `generation ${outcome}`, { instanceId: this.instanceId, produced });
    }
  }

  async close(): Promise<void> {}

  /** Waits `ms` (abortably); with no wait configured, still yields to the event loop now and then. */
  private async pause(ms: number, signal: AbortSignal, produced = 0): Promise<void> {
    if (ms > 0) await sleep(ms, undefined, { signal });
    else if (produced % TOKENS_PER_YIELD === 0) await yieldToLoop();
    signal.throwIfAborted();
  }
}
