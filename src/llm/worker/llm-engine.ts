import type {
  EmbedRequest,
  EmbedResult,
  GenerateRequest,
  PrefillResult,
  PromptBlocks,
  WorkerOutput,
} from '../protocol/pipeline.types.js';

/** What a Worker runs: something that turns a tokenised prompt into a stream of tokens. */
export interface LlmEngine {
  /**
   * Streams `ADMITTED` once the engine has taken `request` (or fails at once when it cannot), then the
   * tokens generated for it. `prepare`, when given, runs once the request is admitted and gives the
   * request to compute (a Worker has the prompt prefilled remotely). Stops, and ends the stream, when
   * `signal` aborts or the consumer stops iterating.
   */
  generate(
    request: GenerateRequest,
    signal: AbortSignal,
    prepare?: () => Promise<GenerateRequest>,
  ): AsyncIterable<WorkerOutput>;
  /**
   * The embedding vectors of `request`'s inputs, in order. Engines that cannot compute them leave it
   * out, and their Worker refuses `POST /v1/embeddings`.
   */
  embed?(request: EmbedRequest, signal: AbortSignal): Promise<EmbedResult>;
  /** Releases what the engine holds. */
  close(): Promise<void>;
}

/** An engine that can run the prefill phase alone, for disaggregated serving. */
export interface PrefillEngine {
  /** Computes the prompt's KV cache; resolves when done, rejects when `signal` aborts. `blocks`: its block ids, when known. */
  prefill(tokenIds: readonly number[], signal: AbortSignal, blocks?: PromptBlocks): Promise<PrefillResult>;
  /** Prompt tokens this engine would have to compute (not cached). */
  uncachedTokens(tokenIds: readonly number[], blocks?: PromptBlocks): number;
}
