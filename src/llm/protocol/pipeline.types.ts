/**
 * What the components of the LLM pipeline send each other: plain, serialisable data, so that the same
 * calls work in one process and across processes.
 */
import type { PromptBlocks } from '../kv/block-hash.mjs';
import type { ReasoningEffort } from './openai-fields.js';

/** Which OpenAI API a request came through. */
export type ApiKind = 'chat' | 'completion';

/** A chat message after normalisation: text content only. */
export interface ChatMessage {
  role: 'system' | 'developer' | 'user' | 'assistant' | 'tool';
  /** The text; content given as text parts is their texts joined by line breaks, as vLLM joins them. */
  content: string;
  /** The texts of the content's parts, when it came as parts: the `openai` engine passes them on as parts. */
  parts?: string[];
  /** An assistant message's tool calls, as OpenAI writes them. */
  tool_calls?: ToolCall[];
  /** A `tool` message: the call it answers. */
  tool_call_id?: string;
  /** The participant's name, as the client wrote it: passed on by the `openai` engine. */
  name?: string;
}

/** A function the model may call, as OpenAI's `tools` declare it. */
export interface ChatTool {
  type: 'function';
  function: { name: string; description?: string; parameters?: Record<string, unknown>; strict?: boolean };
}

/** A call the model made: the function's name and its arguments, a JSON text. */
export interface ToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

/** OpenAI's `tool_choice`. */
export type ToolChoice = 'none' | 'auto' | 'required' | { type: 'function'; function: { name: string } };

/** OpenAI's `response_format`. */
export type ResponseFormat =
  | { type: 'text' }
  | { type: 'json_object' }
  | {
      type: 'json_schema';
      json_schema: { name: string; description?: string; schema?: Record<string, unknown>; strict?: boolean };
    };

/**
 * What the answer must be besides plain text, as the client asked (OpenAI's shapes, so that an engine
 * forwarding to another server passes them on unchanged).
 */
export interface OutputSpec {
  tools?: ChatTool[];
  tool_choice?: ToolChoice;
  parallel_tool_calls?: boolean;
  response_format?: ResponseFormat;
  /** Log-probabilities of each token, with this many most likely alternatives (0 to 20). */
  top_logprobs?: number;
}

/** A token's log-probability, as OpenAI reports it: its text, its UTF-8 bytes and the natural log. */
export interface TokenLogprob {
  token: string;
  bytes: number[];
  logprob: number;
}

/** A generated token's log-probability and the most likely tokens at its place, most likely first. */
export interface GeneratedLogprob extends TokenLogprob {
  top: TokenLogprob[];
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
  /** The sampling fields the client set, as it wrote them. */
  given: GivenSampling;
}

/**
 * The sampling fields a client set, only those: what an engine that forwards the request to another
 * server sends on, leaving the rest to that server's defaults (a seed it was not given stays random).
 */
export interface GivenSampling {
  temperature?: number;
  top_p?: number;
  presence_penalty?: number;
  frequency_penalty?: number;
  seed?: number;
  /** Chat's `reasoning_effort` (the Responses API's `reasoning.effort`), for a model that reasons. */
  reasoning_effort?: ReasoningEffort;
}

/** The Frontend's call to the Processor: the API and the raw JSON body, which the Processor validates. */
export interface ProcessorRequest {
  api: ApiKind;
  body: unknown;
}

/**
 * How a conversation's template ends (vLLM's chat parameters): by opening the assistant's turn
 * (`add_generation_prompt`, the default), or by leaving the last message open for the model to go on
 * with it (`continue_final_message`).
 */
export interface ChatTemplateOptions {
  addGenerationPrompt: boolean;
  continueFinalMessage: boolean;
}

/** A request once validated and normalised by the Processor. */
export interface NormalizedRequest {
  api: ApiKind;
  model: string;
  /** Chat: the conversation. */
  messages?: ChatMessage[];
  /** Chat: vLLM's `add_generation_prompt` and `continue_final_message`, when not their defaults. */
  chatTemplate?: ChatTemplateOptions;
  /** Completions: the prompt as text, or as token ids. */
  prompt?: string | number[];
  sampling: SamplingParams;
  stream: boolean;
  includeUsage: boolean;
  /** vLLM's `stream_options.continuous_usage_stats` (with `include_usage`): every chunk carries the usage so far. */
  continuousUsage: boolean;
  /** Tools, structured output and logprobs, when asked for. */
  output?: OutputSpec;
}

/** Why a choice ended, as OpenAI reports it. */
export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter';

/** A choice's event when the client asked for continuous usage: the tokens the choice has generated so far. */
export interface ChoiceCount {
  completionTokens?: number;
}

/** What the Processor streams back to the Frontend. */
export type ProcessorEvent =
  /** The request is valid and admitted; sent before any token, so errors can still be plain HTTP errors. */
  | {
      type: 'accepted';
      model: string;
      promptTokens: number;
      stream: boolean;
      includeUsage: boolean;
      /** Set when every chunk carries the usage so far (`NormalizedRequest.continuousUsage`). */
      continuousUsage?: true;
      n: number;
    }
  /** More text of one choice; with the log-probabilities of the tokens it completes when they were asked for. */
  | ({ type: 'text'; choice: number; text: string; logprobs?: GeneratedLogprob[] } & ChoiceCount)
  /** More of a choice's refusal: the model declined, saying why (an upstream model's `refusal`), instead of content. */
  | ({ type: 'refusal'; choice: number; text: string } & ChoiceCount)
  /** More of a choice's reasoning, which came before its answer (an upstream model's `reasoning_content`). */
  | ({ type: 'reasoning'; choice: number; text: string } & ChoiceCount)
  /** A tool call of one choice: the first event of call `index` has its id and name, each more of its arguments. */
  | ({ type: 'tool_call'; choice: number; index: number; id?: string; name?: string; arguments: string } & ChoiceCount)
  /** One choice ended. */
  | ({ type: 'finish'; choice: number; reason: FinishReason } & ChoiceCount)
  /** The backend configuration that generated a choice, when an engine tells it (an upstream's `system_fingerprint`). */
  | ({ type: 'fingerprint'; choice: number; systemFingerprint: string } & ChoiceCount)
  /**
   * Token counts, after every choice ended; `reasoningTokens` (of the completion's) when a choice reasoned
   * or an engine's count tells them.
   */
  | { type: 'usage'; promptTokens: number; completionTokens: number; cachedTokens: number; reasoningTokens?: number };

/** An event of one choice: its text, refusal, tool calls and end. */
export type ChoiceEvent = Exclude<ProcessorEvent, { type: 'accepted' } | { type: 'usage' }>;

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
  /** Worker instances not to choose: those that already failed this request (request migration). */
  exclude?: string[];
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
  /**
   * Set when `maxTokens` is the rest of the context because the client set no limit on a chat answer: an
   * engine that forwards to another server sends none, and that server, which counts the prompt with its
   * own tokenizer and template, gives the answer the rest of its context.
   */
  restOfContext?: true;
  temperature: number;
  seed: number | undefined;
  /**
   * The request as the client wrote it, for engines that forward text to another server: its sampling
   * fields too, with choice `i`'s seed at the client's seed plus `i`.
   */
  original: {
    messages?: ChatMessage[];
    chatTemplate?: ChatTemplateOptions;
    prompt?: string | number[];
    sampling?: GivenSampling;
  };
  /** Set when a Prefill worker already computed the prompt's KV cache (disaggregated serving). */
  prefilled?: PrefillResult;
  /** Tools, structured output and logprobs, when the client asked for them. */
  output?: OutputSpec;
  /** Set when this request continues a generation another worker began and lost (request migration). */
  continuation?: Continuation;
}

/**
 * A migrated generation: `tokenIds` holds the prompt's first `promptTokens` ids, then the
 * `generatedTokens` ids already sent to the client; `maxTokens` counts only the tokens still missing.
 * An engine answers with the rest of the same answer.
 */
export interface Continuation {
  promptTokens: number;
  generatedTokens: number;
  /**
   * Of the generated tokens, the first ones that were the model's reasoning (an upstream's
   * `reasoning_content`), its answer following them; absent when none were.
   */
  reasoningTokens?: number;
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
  /** Set when the tokens are arguments of a tool call, not content: its id and name come on its first item. */
  toolCall?: { index: number; id?: string; name?: string };
  /** Set when the tokens are the model's refusal, not content (an upstream model's `refusal`, passed on). */
  refusal?: true;
  /** Set when the tokens are the model's reasoning, not content (an upstream model's `reasoning_content`). */
  reasoning?: true;
  /** The upstream's `system_fingerprint`, on the first item after it came. */
  systemFingerprint?: string;
  /** When asked for: the log-probability of each token generated, whose bytes add up to this item's text. */
  logprobs?: GeneratedLogprob[];
  /**
   * The tokens as the engine counted them, when it counts with another tokenizer than the pipeline's (an
   * upstream server's usage), on the choice's last item: the choice's usage is this, not the pipeline's count.
   */
  counted?: CountedTokens;
}

/** An engine's own count of a choice's tokens. */
export interface CountedTokens {
  promptTokens: number;
  completionTokens: number;
  cachedTokens?: number;
  /** Of the completion tokens, those of the model's reasoning. */
  reasoningTokens?: number;
}

/** How an embeddings response carries its vectors: JSON numbers, or little-endian float32 in base64. */
export type EmbeddingEncoding = 'float' | 'base64';

/** An embeddings input as the client wrote it: a text, texts, token ids, or lists of token ids. */
export type EmbeddingInput = string | string[] | number[] | number[][];

/** The Frontend's call to the Processor's `embed`: the raw JSON body, which the Processor validates. */
export interface EmbeddingsCall {
  body: unknown;
}

/** The Processor's call to a Worker's `embed`. */
export interface EmbedRequest {
  /** The token ids of each input, in order. */
  inputs: number[][];
  /** The length of the vectors asked for; the engine's default when absent. */
  dimensions?: number;
  /** The request as the client wrote it, for engines that forward it to another server. */
  original: { input: EmbeddingInput; user?: string };
}

/** What a Worker's `embed` answers: a vector per input, in order, each little-endian float32 in base64. */
export interface EmbedResult {
  embeddings: string[];
  /** Input tokens as the engine counted them. */
  promptTokens: number;
}

/** What the Processor's `embed` answers the Frontend. */
export interface EmbeddingsResult extends EmbedResult {
  model: string;
  encodingFormat: EmbeddingEncoding;
}
