import type { GenerateOutput, GenerateRequest } from '../protocol/pipeline.types.js';

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
