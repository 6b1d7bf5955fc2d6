/**
 * What the components of the LLM pipeline send each other: plain, serialisable data, so that the same
 * calls work in one process and across processes.
 */
import type { PromptBlocks } from '../kv/block-hash.mjs';

/** Which OpenAI API a request came through. */
export type ApiKind = 'chat' | 'completion';

/** A chat message after normalisation: text content only. */
export interface ChatMessage {
  role: 'system' | 'developer' | 'user' | 'assistant' | 'tool';
  content: string;
}

/** Sampling settings common to both APIs. */
export interface SamplingParams {
  /** Most tokens to generate per choice; the engine may stop earlier. */
  maxTokens: number | undefined;
  temperature: number;
  seed: number | undefined;
  /** Up to 4 strings; generation stops before the first one that appears. */
  stop: string[];
  /** Choices to generate. */
  n: number;
}

/** The Frontend's call to the Processor: the API and the raw JSON body, which the Processor validates. */
export interface ProcessorRequest {
  api: ApiKind;
  body: unknown;
}

/** A request once validated and normalised by the Processor. */
export interface NormalizedRequest {
  api: ApiKind;
  model: string;
  /** Chat: the conversation. */
  messages?: ChatMessage[];
  /** Completions: the prompt as text, or as token ids. */
  prompt?: string | number[];
  sampling: SamplingParams;
  stream: boolean;
  includeUsage: boolean;
}

/** Why a choice ended, as OpenAI reports it. */
export type FinishReason = 'stop' | 'length';

/** What the Processor streams back to the Frontend. */
export type ProcessorEvent =
  /** The request is valid and admitted; sent before any token, so errors can still be plain HTTP errors. */
  | { type: 'accepted'; model: string; promptTokens: number; stream: boolean; includeUsage: boolean; n: number }
  /** More text of one choice. */
  | { type: 'text'; choice: number; text: string }
  /** One choice ended. */
  | { type: 'finish'; choice: number; reason: FinishReason }
  /** Token counts, after every choice ended. */
  | { type: 'usage'; promptTokens: number; completionTokens: number; cachedTokens: number };

/**
 * A prompt's KV block ids, computed once with its token ids (by the Processor's tokenizer thread, for a
 * long prompt) so that the Router and the Worker need not hash it again: `blockSize`, and the ids
 * concatenated (22 characters a full block; see kv/block-hash.mjs). Absent for a short prompt, or from
 * an older peer: then each computes them from the token ids.
 */
export type { PromptBlocks } from '../kv/block-hash.mjs';

/** The Processor's call to the Router. */
export interface RouteRequest {
  tokenIds: number[];
  blocks?: PromptBlocks;
}

/** The Router's answer: the worker instance to use and how much of the prompt it already holds. */
export interface RouteDecision {
  workerId: string;
  prefixHitRate: number;
}

/** The Processor's call to a Worker. */
export interface GenerateRequest {
  tokenIds: number[];
  /** The prompt's KV block ids, when the Processor computed them. */
  blocks?: PromptBlocks;
  maxTokens: number | undefined;
  temperature: number;
  seed: number | undefined;
  /** The request as the client wrote it, for engines that forward text to another server. */
  original: { messages?: ChatMessage[]; prompt?: string | number[] };
  /** Set when a Prefill worker already computed the prompt's KV cache (disaggregated serving). */
  prefilled?: PrefillResult;
}

/** A Worker's call to a Prefill worker. */
export interface PrefillRequest {
  tokenIds: number[];
  blocks?: PromptBlocks;
}

/** What a Prefill worker reports once the prompt's KV cache is computed (and handed over). */
export interface PrefillResult {
  /** Prompt tokens that were already cached on the Prefill worker. */
  cachedTokens: number;
  /** The Prefill worker that computed it. */
  prefillWorkerId: string;
}

/**
 * A Worker's first item: it has taken the request (a slot, or a place in its queue). It comes before
 * any token, so that a worker's refusal still reaches the client as an HTTP status.
 */
export interface WorkerAdmitted {
  admitted: true;
}

/** What a Worker's `generate` streams: `WorkerAdmitted`, then its tokens. */
export type WorkerOutput = WorkerAdmitted | GenerateOutput;

/** What a Worker streams back: new token ids, and on the last item why it stopped. */
export interface GenerateOutput {
  tokenIds: number[];
  finishReason?: FinishReason;
  /** On the first item: prompt tokens whose KV entries were already cached. */
  cachedTokens?: number;
}
