import OpenAI from 'openai';
import { outboundTracingHeaders, RequestTracingMixin, Traced } from '@threadline/tracing';
import type { UpstreamConfig } from '../../llm.config.js';
import { Tokenizer } from '../../processor/tokenizer.js';
import { ADMITTED } from '../../protocol/admission.js';
import { encodeVector } from '../../protocol/embedding-vector.js';
import type {
  ChatMessage,
  CountedTokens,
  EmbedRequest,
  EmbedResult,
  FinishReason,
  GeneratedLogprob,
  GenerateOutput,
  GenerateRequest,
  OutputSpec,
  WorkerOutput,
} from '../../protocol/pipeline.types.js';
import { UpstreamFailureError } from '../../protocol/upstream-failure.error.js';
import type { LlmEngine } from '../llm-engine.js';
import { upstreamChat, upstreamPrompt } from './upstream-continuation.js';
import {
  toUpstreamRefusal,
  toUpstreamStreamError,
  upstreamCutOff,
  upstreamSilent,
  upstreamChunkWithoutChoices,
  upstreamUnknownFinish,
} from './upstream-error.js';
import { UpstreamSilence } from './upstream-silence.js';

/**
 * Forwards generation to any OpenAI-compatible server (vLLM, SGLang, llama.cpp, Ollama, or another
 * Threadline), streaming, with the request id in `X-Request-Id` so the upstream's logs carry it too.
 * The upstream applies its own chat template to the original messages; its text comes back as token
 * ids of our tokenizer, which decode to exactly that text.
 */
export class OpenAIUpstreamEngine extends RequestTracingMixin() implements LlmEngine {
  private readonly client: OpenAI;
  private readonly tokenizer = new Tokenizer();

  constructor(private readonly config: UpstreamConfig) {
    super();
    // No retries: a retried stream could repeat tokens the client already has. The SDK's own OPENAI_*
    // variables are set aside: an organization or admin key, or custom headers, meant for OpenAI go to
    // no other server.
    this.client = new OpenAI({
      baseURL: config.url,
      apiKey: config.apiKey ?? 'none',
      // No key, no Authorization header (the SDK wants a key, and would send it).
      defaultHeaders: {
        // Set to null: removed.
        ...Object.fromEntries(config.sdkCustomHeaders.map((name) => [name, null])),
        ...(config.apiKey === undefined && { Authorization: null }),
      },
      adminAPIKey: null,
      organization: null,
      project: null,
      timeout: config.timeoutMs,
      maxRetries: 0,
      // Not OPENAI_LOG's: at debug the SDK logs requests and their bodies, the prompts, on the console.
      logLevel: 'warn',
    });
  }

  /**
   * Admits the request once the upstream has answered with its response head: the upstream keeps its
   * own queue, and a refusal of its (a 429, a 502/503/504, a connection refused) becomes ours, a status
   * the client gets before any byte of a stream. Its failures after the head are errors of the stream.
   */
  @Traced()
  async *generate(request: GenerateRequest, signal: AbortSignal): AsyncGenerator<WorkerOutput> {
    const options = { headers: outboundTracingHeaders(), signal };
    let upstream: Awaited<ReturnType<OpenAIUpstreamEngine['open']>>;
    try {
      upstream = await this.open(request, options);
    } catch (error) {
      throw signal.aborted ? (signal.reason ?? error) : toUpstreamRefusal(error, this.config.apiKey);
    }
    const { chunks, controller } = upstream;
    const silence = new UpstreamSilence(this.config.timeoutMs, () => controller.abort());
    let first = true;
    // The choice's last item, held until the stream's end, which brings the upstream's usage after it.
    let last: GenerateOutput | undefined;
    let counted: CountedTokens | undefined;
    // The upstream's system_fingerprint (it comes once), carried on by the next item.
    let fingerprint: string | undefined;
    try {
      yield ADMITTED;
      // The silence counted is the upstream's: the time this stream's reader takes is not.
      silence.heard();
      for await (const { text, finishReason, usage, systemFingerprint, ...fields } of chunks) {
        silence.heard();
        fingerprint ??= systemFingerprint;
        // A continuation's count would hold the answer's first part as prompt: the pipeline counts those.
        if (usage !== undefined && request.continuation === undefined) counted = countedOf(usage);
        if (last !== undefined) continue;
        const tokenIds = text ? this.tokenizer.encode(text) : [];
        const empty = tokenIds.length === 0 && fields.toolCall === undefined && fields.logprobs === undefined;
        if (empty && finishReason === undefined) continue;
        const item: GenerateOutput = first ? { tokenIds, finishReason, cachedTokens: 0 } : { tokenIds, finishReason };
        first = false;
        if (fingerprint !== undefined) {
          item.systemFingerprint = fingerprint;
          fingerprint = undefined;
        }
        // A tool call's piece (its id and name, or more of its arguments), and logprobs: as the upstream sent them.
        if (finishReason !== undefined) {
          last = { ...item, ...fields };
          continue;
        }
        yield { ...item, ...fields };
        silence.heard();
      }
    } catch (error) {
      if (!signal.aborted && !silence.broken) throw toUpstreamStreamError(error, this.config.apiKey);
    } finally {
      silence.stop();
      // A consumer that stops early (even right after ADMITTED) closes the upstream's response too.
      controller.abort();
    }
    // The SDK ends an aborted stream quietly, so a cancellation shows here, not as an error.
    if (signal.aborted) this.logWithRequestId('info', 'upstream generation stopped: request cancelled');
    else if (silence.broken) throw upstreamSilent(this.config.timeoutMs);
    // Every choice of an OpenAI stream ends with its finish reason: one that ends without was cut off.
    else if (last === undefined) throw upstreamCutOff();
    // With the upstream's usage, counted by its own tokenizer: what the client's usage says.
    else yield counted === undefined ? last : { ...last, counted };
  }

  /**
   * Passes an embeddings request to the upstream's `POST /embeddings`, the input as the client wrote it,
   * with the request id as `generate` sends it, asking for base64 (the pipeline's own form; an upstream
   * that sends numbers anyway is encoded here). The usage is the upstream's: its tokenizer counted it.
   */
  @Traced()
  async embed(request: EmbedRequest, signal: AbortSignal): Promise<EmbedResult> {
    const body: OpenAI.EmbeddingCreateParams = {
      model: this.config.model,
      input: request.original.input,
      encoding_format: 'base64',
    };
    if (request.dimensions !== undefined) body.dimensions = request.dimensions;
    if (request.original.user !== undefined) body.user = request.original.user;
    let response: OpenAI.CreateEmbeddingResponse;
    try {
      response = await this.client.embeddings.create(body, { headers: outboundTracingHeaders(), signal });
    } catch (error) {
      throw signal.aborted ? (signal.reason ?? error) : toUpstreamRefusal(error, this.config.apiKey);
    }
    const data = Array.isArray(response.data) ? [...response.data].sort((a, b) => a.index - b.index) : [];
    const embeddings = data.map((item) => upstreamVector(item.embedding as unknown));
    if (embeddings.length !== request.inputs.length || embeddings.includes(undefined)) {
      throw new UpstreamFailureError(
        `The upstream model server answered with ${embeddings.length} embeddings for ${request.inputs.length} inputs, or with one that is not a vector.`,
        502,
        'upstream_error',
      );
    }
    const counted = response.usage?.prompt_tokens;
    return {
      embeddings: embeddings as string[],
      promptTokens:
        typeof counted === 'number' && Number.isSafeInteger(counted)
          ? counted
          : request.inputs.reduce((sum, ids) => sum + ids.length, 0),
    };
  }

  async close(): Promise<void> {}

  /** Sends the request; resolves once the upstream's response head has come (its refusal rejects), with its text chunks and the controller that ends its response. */
  private async open(request: GenerateRequest, options: { headers: Record<string, string>; signal: AbortSignal }) {
    const common = {
      model: this.config.model,
      // Without the client's limit, none: the upstream gives the answer the rest of the context as it
      // counts the prompt (its tokenizer and template may make it longer than ours, refusing our count).
      ...(!request.restOfContext && { max_tokens: request.maxTokens }),
      // The sampling fields the client set, and only those: the upstream's defaults hold for the rest.
      ...request.original.sampling,
      stream: true as const,
      stream_options: { include_usage: true },
    };
    const output = request.output ?? {};
    if (request.original.messages !== undefined) {
      const stream = await this.client.chat.completions.create(
        {
          ...common,
          ...upstreamChat(request.original.messages.map(toUpstreamMessage), request, this.tokenizer),
          ...upstreamChatOutput(output),
        },
        options,
      );
      const { apiKey } = this.config;
      const chunks = (async function* (): AsyncGenerator<UpstreamPiece> {
        const callIndex = toolCallIndexes();
        const fingerprintOf = firstFingerprint();
        for await (const chunk of stream) {
          const choice = firstChoice(chunk, apiKey);
          const fingerprint = fingerprintOf(chunk);
          if (fingerprint !== undefined) yield fingerprint;
          // The usage comes last, on a chunk of its own (of no choice).
          if (chunk.usage) yield { text: '', usage: chunk.usage };
          if (!choice) continue;
          const finishReason = finish(choice.finish_reason);
          // Tool call deltas and a refusal first: a chunk that ends the choice comes after its last piece.
          for (const call of choice.delta?.tool_calls ?? []) yield toolCallPiece(call, callIndex(call));
          const refusal = choice.delta?.refusal;
          if (refusal) yield { text: refusal, refusal: true };
          const reasoning = reasoningOf(choice.delta);
          if (reasoning) yield { text: reasoning, reasoning: true };
          const logprobs = choice.logprobs?.content?.map(chatLogprob);
          const piece: UpstreamPiece = { text: choice.delta?.content ?? '', finishReason };
          if (logprobs !== undefined && logprobs.length > 0) piece.logprobs = logprobs;
          yield piece;
        }
      })();
      return { chunks, controller: stream.controller };
    }
    const stream = await this.client.completions.create(
      {
        ...common,
        prompt: upstreamPrompt(request, this.tokenizer),
        ...(output.top_logprobs !== undefined && { logprobs: output.top_logprobs }),
      },
      options,
    );
    const { apiKey } = this.config;
    const chunks = (async function* (): AsyncGenerator<UpstreamPiece> {
      const fingerprintOf = firstFingerprint();
      for await (const chunk of stream) {
        const choice = firstChoice(chunk, apiKey);
        const fingerprint = fingerprintOf(chunk);
        if (fingerprint !== undefined) yield fingerprint;
        if (chunk.usage) yield { text: '', usage: chunk.usage };
        if (!choice) continue;
        const piece: UpstreamPiece = { text: choice.text ?? '', finishReason: finish(choice.finish_reason) };
        const logprobs =
          choice.logprobs === null || choice.logprobs === undefined ? [] : completionLogprobs(choice.logprobs);
        if (logprobs.length > 0) piece.logprobs = logprobs;
        yield piece;
      }
    })();
    return { chunks, controller: stream.controller };
  }
}

/** What the upstream's stream gives, piece by piece: text (content, or a tool call's arguments) and what goes with it. */
interface UpstreamPiece {
  text: string;
  finishReason?: FinishReason | undefined;
  toolCall?: NonNullable<GenerateOutput['toolCall']>;
  /** The text is the model's refusal, not content. */
  refusal?: true;
  /** The text is the model's reasoning, not content. */
  reasoning?: true;
  systemFingerprint?: string;
  logprobs?: GeneratedLogprob[];
  /** The upstream's count of the request's tokens, sent at the end of its stream. */
  usage?: OpenAI.CompletionUsage;
}

/**
 * A chunk's first choice, if it has one. A chunk without its list of choices (and no usage) is the
 * upstream's failure: an error it wrote at the top level (`{"object": "error", "message": ...}`, as
 * older vLLM does), or a chunk of no use.
 */
function firstChoice<T>(chunk: { choices?: T[]; usage?: unknown }, apiKey: string | undefined): T | undefined {
  if (Array.isArray(chunk.choices)) return chunk.choices[0];
  if (chunk.usage !== undefined && chunk.usage !== null) return undefined;
  throw upstreamChunkWithoutChoices(chunk, apiKey);
}

/** The piece of a stream's first `system_fingerprint`, at the chunk that brings it; none for the others. */
function firstFingerprint(): (chunk: { system_fingerprint?: string | null }) => UpstreamPiece | undefined {
  let seen = false;
  return ({ system_fingerprint: fingerprint }) => {
    if (!fingerprint || seen) return undefined;
    seen = true;
    return { text: '', systemFingerprint: fingerprint };
  };
}

/** The upstream's usage as the pipeline takes it; a count that is not a whole number is left out. */
function countedOf(usage: OpenAI.CompletionUsage): CountedTokens | undefined {
  const { prompt_tokens: prompt, completion_tokens: completion } = usage;
  if (!Number.isSafeInteger(prompt) || !Number.isSafeInteger(completion)) return undefined;
  const cached = usage.prompt_tokens_details?.cached_tokens;
  const counted: CountedTokens = { promptTokens: prompt, completionTokens: completion };
  if (typeof cached === 'number' && Number.isSafeInteger(cached)) counted.cachedTokens = cached;
  const reasoning = usage.completion_tokens_details?.reasoning_tokens;
  if (typeof reasoning === 'number' && Number.isSafeInteger(reasoning)) counted.reasoningTokens = reasoning;
  return counted;
}

/** A chat delta's reasoning text: vLLM's `reasoning_content` (SGLang's, DeepSeek's), or `reasoning` as newer vLLM names it. */
function reasoningOf(delta: OpenAI.ChatCompletionChunk.Choice.Delta | undefined): string | undefined {
  const { reasoning_content: content, reasoning } = (delta ?? {}) as {
    reasoning_content?: unknown;
    reasoning?: unknown;
  };
  if (typeof content === 'string' && content !== '') return content;
  return typeof reasoning === 'string' ? reasoning : undefined;
}

/**
 * A message as the client sent it: a tool's result with the call it answers, an assistant's tool calls,
 * the participant's name (a tool message has none).
 */
function toUpstreamMessage(message: ChatMessage): OpenAI.ChatCompletionMessageParam {
  // Text parts go on as parts: how they are joined is the upstream's choice, as if the client had called it.
  const content = message.parts?.map((text) => ({ type: 'text' as const, text })) ?? message.content;
  if (message.role === 'tool') {
    return { role: 'tool', content, tool_call_id: message.tool_call_id ?? '' };
  }
  const named = message.name === undefined ? {} : { name: message.name };
  if (message.role === 'assistant' && message.tool_calls !== undefined) {
    return {
      role: 'assistant',
      content: content === '' ? null : content,
      tool_calls: message.tool_calls,
      ...named,
    };
  }
  return { role: message.role, content, ...named };
}

/** Tools, tool_choice, response_format and logprobs, passed on as the client wrote them. */
function upstreamChatOutput(output: OutputSpec): Partial<OpenAI.ChatCompletionCreateParamsStreaming> {
  const params: Partial<OpenAI.ChatCompletionCreateParamsStreaming> = {};
  if (output.tools !== undefined) params.tools = output.tools;
  if (output.tool_choice !== undefined) params.tool_choice = output.tool_choice;
  if (output.parallel_tool_calls !== undefined) params.parallel_tool_calls = output.parallel_tool_calls;
  if (output.response_format !== undefined) params.response_format = output.response_format;
  if (output.top_logprobs !== undefined) {
    params.logprobs = true;
    params.top_logprobs = output.top_logprobs;
  }
  return params;
}

/**
 * The index of each streamed tool call delta of a choice. Some servers (Ollama) send whole calls without
 * `index`: then a delta with an id other than the current call's starts the next call, and one without
 * an id goes on with the current call.
 */
function toolCallIndexes(): (call: OpenAI.ChatCompletionChunk.Choice.Delta.ToolCall) => number {
  let current = -1;
  let currentId: string | undefined;
  return (call) => {
    const index = call.index as number | undefined;
    if (typeof index === 'number') {
      if (index !== current) currentId = undefined;
      current = index;
    } else if (current < 0 || (call.id && call.id !== currentId)) {
      current++;
      currentId = undefined;
    }
    if (call.id) currentId = call.id;
    return current;
  };
}

/** A streamed tool call delta: which call, its id and name when the upstream sends them, more of its arguments. */
function toolCallPiece(call: OpenAI.ChatCompletionChunk.Choice.Delta.ToolCall, index: number): UpstreamPiece {
  const toolCall: UpstreamPiece['toolCall'] = { index };
  if (call.id) toolCall.id = call.id;
  if (call.function?.name) toolCall.name = call.function.name;
  return { text: call.function?.arguments ?? '', toolCall };
}

function tokenBytes(token: string, bytes: number[] | null | undefined): number[] {
  return bytes ?? [...Buffer.from(token, 'utf8')];
}

function chatLogprob(entry: OpenAI.ChatCompletionTokenLogprob): GeneratedLogprob {
  return {
    token: entry.token,
    bytes: tokenBytes(entry.token, entry.bytes),
    logprob: entry.logprob,
    top: (entry.top_logprobs ?? []).map((alt) => ({
      token: alt.token,
      bytes: tokenBytes(alt.token, alt.bytes),
      logprob: alt.logprob,
    })),
  };
}

/** The completions API's parallel lists, as one entry per token (its alternatives most likely first). */
function completionLogprobs(logprobs: OpenAI.CompletionChoice.Logprobs): GeneratedLogprob[] {
  const tokens = logprobs.tokens ?? [];
  return tokens.map((token, i) => ({
    token,
    bytes: tokenBytes(token, undefined),
    logprob: logprobs.token_logprobs?.[i] ?? 0,
    top: Object.entries(logprobs.top_logprobs?.[i] ?? {})
      .sort((a, b) => b[1] - a[1])
      .map(([alt, logprob]) => ({ token: alt, bytes: tokenBytes(alt, undefined), logprob })),
  }));
}

/** OpenAI's finish reasons, as the pipeline has them; any other (vLLM's `abort`, an `error`) fails the request. */
function finish(reason: string | null | undefined): FinishReason | undefined {
  if (reason === null || reason === undefined) return undefined;
  if (reason === 'tool_calls' || reason === 'function_call') return 'tool_calls';
  if (reason === 'stop' || reason === 'length' || reason === 'content_filter') return reason;
  if (FAILED_FINISH.has(reason)) throw upstreamUnknownFinish(String(reason));
  // Servers name a normal end their own way (TGI's `eos_token`, `eos`, `stop_sequence`, `end_turn`).
  return reason === 'max_tokens' || reason === 'model_length' ? 'length' : 'stop';
}

/** Finish reasons that say the generation failed or was cut (vLLM's `abort`), rather than ended. */
const FAILED_FINISH = new Set(['abort', 'error', 'cancelled', 'canceled']);

/** An upstream's vector in base64 (as sent, or encoded from its numbers); `undefined` when it is neither. */
function upstreamVector(embedding: unknown): string | undefined {
  if (typeof embedding === 'string') return embedding;
  if (Array.isArray(embedding) && embedding.every((value) => typeof value === 'number')) return encodeVector(embedding);
  return undefined;
}
