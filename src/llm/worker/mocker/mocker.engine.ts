import { setImmediate as yieldToLoop, setTimeout as sleep } from 'node:timers/promises';
import { RequestTracingMixin, Traced } from '@threadline/tracing';
import { promptBlockHashes, promptBlockHashesInTurns } from '../../kv/block-hash.mjs';
import type { PromptBlocks } from '../../kv/block-hash.mjs';
import { KvBlockCache } from '../../kv/kv-block-cache.js';
import type { KvEvent, WorkerLoad } from '../../kv/kv-events.js';
import type { MockerConfig } from '../../llm.config.js';
import type { WorkerMeter } from '../../../observability/metrics/worker.metrics.js';
import { ADMITTED } from '../../protocol/admission.js';
import { encodeVector } from '../../protocol/embedding-vector.js';
import { InvalidRequestError } from '../../protocol/invalid-request.error.js';
import type {
  EmbedRequest,
  EmbedResult,
  GenerateOutput,
  GenerateRequest,
  PrefillResult,
  WorkerOutput,
} from '../../protocol/pipeline.types.js';
import type { LlmEngine, PrefillEngine } from '../llm-engine.js';
import { MOCK_EMBEDDING_DIMENSIONS, MOCK_EMBEDDING_MAX_DIMENSIONS, mockEmbedding } from './mock-embedding.js';
import { mockAnswer } from './mock-answer.js';
import { SequenceScheduler } from './sequence-scheduler.js';

/** With no decode delay, let other requests run every this many tokens. */
const TOKENS_PER_YIELD = 16;
/** KV blocks a worker caches (and reports) in one turn of the event loop. */
const BLOCKS_PER_TURN = 1024;
/** Embeddings the mocker computes in one turn of the event loop. */
const EMBEDDINGS_PER_TURN = 64;

/**
 * Simulates an LLM engine without a GPU, as Dynamo's mocker does: a KV block cache (prefill time grows
 * with the prompt tokens it does not hold), a per-token decode time, a limit on concurrent sequences
 * with a waiting queue, and deterministic text for a given prompt and seed. It reports every change of
 * its cache, with its load, to `onKvEvent`, as a real engine's KV event publisher does.
 */
export class MockerEngine extends RequestTracingMixin() implements LlmEngine, PrefillEngine {
  private readonly scheduler: SequenceScheduler;
  private readonly cache: KvBlockCache;

  constructor(
    private readonly config: MockerConfig,
    readonly instanceId: string,
    private readonly onKvEvent: (event: KvEvent) => void = () => undefined,
    private readonly meter?: WorkerMeter,
  ) {
    super();
    this.cache = new KvBlockCache(config.kvBlocks);
    this.scheduler = new SequenceScheduler(
      config.maxRunning,
      config.maxWaiting,
      () => this.report([], []),
      () => meter?.rejected('queue_full'),
    );
    meter?.watchLoad(() => this.load);
  }

  get load(): WorkerLoad {
    const { maxRunning, maxWaiting } = this.scheduler;
    return { ...this.scheduler.load, maxRunning, maxWaiting, cacheUsage: this.cache.usage };
  }

  uncachedTokens(tokenIds: readonly number[], blocks?: PromptBlocks): number {
    const hashes = promptBlockHashes(tokenIds, this.config.blockSize, blocks);
    return tokenIds.length - this.cache.prefixHits(hashes) * this.config.blockSize;
  }

  /**
   * Takes the request in (or refuses it) before awaiting anything and says so with `ADMITTED`, then
   * waits for its slot (and for `prepare`, meanwhile) and decodes. One generator, so that each token
   * crosses a single layer.
   */
  @Traced()
  async *generate(
    request: GenerateRequest,
    signal: AbortSignal,
    prepare?: () => Promise<GenerateRequest>,
  ): AsyncGenerator<WorkerOutput> {
    // A continuation is the rest of the answer to the original prompt, after the tokens carried over.
    const carried = request.continuation?.generatedTokens ?? 0;
    const prompt = carried === 0 ? request.tokenIds : request.tokenIds.slice(0, request.continuation!.promptTokens);
    // Text, JSON or a tool call, as the request's `output` asks; a schema it cannot honour is refused here.
    const text = mockAnswer(prompt, request);
    text.skip(carried);
    const seat = this.scheduler.enter(signal);
    const limit = Math.min(carried + (request.maxTokens ?? Number.POSITIVE_INFINITY), text.length);
    let produced = carried;
    let ran = false;
    try {
      yield ADMITTED;
      const [ready, prepared] = await Promise.all([seat.ready, prepare?.() ?? request]);
      if (!ready) return;
      ran = true;
      const cachedTokens = await this.computePrompt(prepared, signal);
      while (produced < limit) {
        const wait = produced > carried ? this.beforeToken(produced, signal) : undefined;
        if (wait !== undefined) await wait;
        const token = text.token(produced++);
        const finishReason = produced < limit ? undefined : limit === text.length ? text.finishReason : 'length';
        const fields = text.fields(produced - 1, token);
        const item: GenerateOutput =
          produced === carried + 1
            ? { tokenIds: [token], finishReason, cachedTokens }
            : { tokenIds: [token], finishReason };
        yield fields === undefined ? item : { ...item, ...fields };
      }
    } catch (error) {
      // A request cancelled while it runs ends its stream quietly: the caller has gone and wants nothing
      // more. A failed `prepare` (a remote prefill, cancelled or not) is the caller's to see.
      if (!ran || !signal.aborted) throw error;
    } finally {
      seat.leave();
      if (ran) {
        const outcome =
          produced < limit
            ? `stopped after ${produced} of ${limit} tokens: request cancelled`
            : `finished: ${produced} tokens`;
        this.logWithRequestId(produced < limit ? 'info' : 'debug', `generation ${outcome}`, {
          instanceId: this.instanceId,
          produced,
        });
      }
    }
  }

  @Traced()
  async prefill(tokenIds: readonly number[], signal: AbortSignal, blocks?: PromptBlocks): Promise<PrefillResult> {
    const release = await this.admit(signal);
    if (release === undefined) throw signal.reason;
    try {
      const cachedTokens = await this.computePrompt({ tokenIds: [...tokenIds], blocks }, signal);
      return { cachedTokens, prefillWorkerId: this.instanceId };
    } catch (error) {
      if (signal.aborted)
        this.logWithRequestId('info', 'prefill stopped: request cancelled', { instanceId: this.instanceId });
      throw error;
    } finally {
      release();
    }
  }

  /**
   * Each input's vector (see `mockEmbedding`), in a slot as a generation runs in, after the time a
   * prefill of its tokens would take.
   */
  @Traced()
  async embed(request: EmbedRequest, signal: AbortSignal): Promise<EmbedResult> {
    const dimensions = request.dimensions ?? MOCK_EMBEDDING_DIMENSIONS;
    if (dimensions > MOCK_EMBEDDING_MAX_DIMENSIONS) {
      throw new InvalidRequestError(
        `dimensions must be at most ${MOCK_EMBEDDING_MAX_DIMENSIONS} for this model.`,
        'dimensions',
      );
    }
    const release = await this.admit(signal);
    if (release === undefined) throw signal.reason;
    try {
      const promptTokens = request.inputs.reduce((sum, ids) => sum + ids.length, 0);
      await this.pause((promptTokens * this.config.prefillUsPerToken) / 1000, signal);
      const embeddings: string[] = [];
      for (const ids of request.inputs) {
        // A large batch is a long computation: other requests get a turn now and then.
        if (embeddings.length > 0 && embeddings.length % EMBEDDINGS_PER_TURN === 0) await yieldToLoop();
        embeddings.push(encodeVector(mockEmbedding(ids, dimensions)));
      }
      return { embeddings, promptTokens };
    } finally {
      release();
    }
  }

  async close(): Promise<void> {}

  /** A slot to run in, or `undefined` when the request was cancelled while it waited. */
  private async admit(signal: AbortSignal): Promise<(() => void) | undefined> {
    try {
      return await this.scheduler.acquire(signal);
    } catch (error) {
      if (signal.aborted) return undefined;
      throw error;
    }
  }

  /**
   * Waits out the prefill of the prompt tokens the cache did not hold, then takes the prompt's blocks
   * into the cache; a prompt prefilled elsewhere arrives with its KV cache, so only the hand-over is
   * cached here. A block counts as cached only once its prefill has completed: an identical prompt that
   * comes while this one is being prefilled prefills itself (as an engine that caches computed blocks
   * does), and a prefill cancelled mid-way caches nothing. Returns the prompt tokens that were cached.
   */
  private async computePrompt(
    request: Pick<GenerateRequest, 'tokenIds' | 'blocks' | 'prefilled'>,
    signal: AbortSignal,
  ): Promise<number> {
    const hashes = await promptBlockHashesInTurns(request.tokenIds, this.config.blockSize, request.blocks);
    // A long prompt's look-up, and each slice of its caching, in turns of the event loop of their own.
    const long = hashes.length > BLOCKS_PER_TURN;
    if (long) await yieldToLoop();
    const hitBlocks = this.cache.prefixHits(hashes);
    this.meter?.prefixLookup(hitBlocks, hashes.length);
    if (request.prefilled !== undefined) {
      if (long) await yieldToLoop();
      await this.storeBlocks(hashes);
      return request.prefilled.cachedTokens;
    }
    const cachedTokens = hitBlocks * this.config.blockSize;
    const prefillMs = ((request.tokenIds.length - cachedTokens) * this.config.prefillUsPerToken) / 1000;
    await this.pause(prefillMs, signal);
    if (long) await yieldToLoop();
    await this.storeBlocks(hashes);
    this.logWithRequestId('debug', 'prefill done', {
      instanceId: this.instanceId,
      promptTokens: request.tokenIds.length,
      cachedTokens,
      prefillMs,
    });
    return cachedTokens;
  }

  /**
   * Caches a prompt's blocks and reports them, BLOCKS_PER_TURN at a time with a turn of the event loop
   * between: a long prompt's thousands of blocks, and the Router's handling of their event, would
   * otherwise hold up every other request at once.
   */
  private async storeBlocks(hashes: readonly string[]): Promise<void> {
    const kept = hashes.length > this.cache.capacity ? hashes.slice(-this.cache.capacity) : hashes;
    let from = 0;
    do {
      if (from > 0) await yieldToLoop();
      const change = this.cache.insert(kept.slice(from, from + BLOCKS_PER_TURN));
      this.report(change.stored, change.removed);
      from += BLOCKS_PER_TURN;
    } while (from < kept.length);
  }

  private report(stored: string[], removed: string[]): void {
    this.onKvEvent({ workerId: this.instanceId, stored, removed, load: this.load });
  }

  /** Waits `ms` (abortably). */
  private async pause(ms: number, signal: AbortSignal): Promise<void> {
    if (ms > 0) await sleep(ms, undefined, { signal });
    signal.throwIfAborted();
  }

  /**
   * What to wait before the next token: its decode time; with none configured, a turn of the event
   * loop every TOKENS_PER_YIELD tokens, and no wait at all in between (an await per token would only
   * cost, and the benchmarks run the mocker this way to measure the pipeline's own overhead).
   */
  private beforeToken(produced: number, signal: AbortSignal): Promise<void> | undefined {
    signal.throwIfAborted();
    if (this.config.decodeMsPerToken > 0) return sleep(this.config.decodeMsPerToken, undefined, { signal });
    return produced % TOKENS_PER_YIELD === 0 ? yieldToLoop() : undefined;
  }
}
