import type { GenerateOutput, GenerateRequest, PrefillResult } from '../protocol/pipeline.types.js';

/** What a Worker runs: something that turns a tokenised prompt into a stream of tokens. */
export interface LlmEngine {
  /**
   * Streams the tokens generated for `request`. Stops, and ends the stream, when `signal` aborts or the
   * consumer stops iterating.
   */
  generate(request: GenerateRequest, signal: AbortSignal): AsyncIterable<GenerateOutput>;
  /** Releases what the engine holds. */
  close(): Promise<void>;
}

/** An engine that can run the prefill phase alone, for disaggregated serving. */
export interface PrefillEngine {
  /** Computes the prompt's KV cache; resolves when done, rejects when `signal` aborts. */
  prefill(tokenIds: readonly number[], signal: AbortSignal): Promise<PrefillResult>;
  /** Prompt tokens this engine would have to compute (not cached). */
  uncachedTokens(tokenIds: readonly number[]): number;
}
