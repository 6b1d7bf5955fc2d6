import OpenAI from 'openai';
import { outboundTracingHeaders, RequestTracingMixin, Traced } from '@threadline/tracing';
import type { UpstreamConfig } from '../../llm.config.js';
import { Tokenizer } from '../../processor/tokenizer.js';
import { ADMITTED } from '../../protocol/admission.js';
import type { ChatMessage, FinishReason, GenerateRequest, WorkerOutput } from '../../protocol/pipeline.types.js';
import type { LlmEngine } from '../llm-engine.js';
import { toUpstreamError, toUpstreamRefusal } from './upstream-error.js';

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
    // No retries: a retried stream could repeat tokens the client already has.
    this.client = new OpenAI({
      baseURL: config.url,
      apiKey: config.apiKey ?? 'none',
      timeout: config.timeoutMs,
      maxRetries: 0,
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
      throw signal.aborted ? (signal.reason ?? error) : toUpstreamRefusal(error, this.config.url!);
    }
    const { chunks, controller } = upstream;
    let first = true;
    try {
      yield ADMITTED;
      for await (const { text, finishReason } of chunks) {
        const tokenIds = text ? this.tokenizer.encode(text) : [];
        if (tokenIds.length === 0 && finishReason === undefined) continue;
        yield first ? { tokenIds, finishReason, cachedTokens: 0 } : { tokenIds, finishReason };
        first = false;
      }
    } catch (error) {
      if (!signal.aborted) throw toUpstreamError(error, this.config.url!);
    } finally {
      // A consumer that stops early (even right after ADMITTED) closes the upstream's response too.
      controller.abort();
    }
    // The SDK ends an aborted stream quietly, so a cancellation shows here, not as an error.
    if (signal.aborted) this.logWithRequestId('info', 'upstream generation stopped: request cancelled');
  }

  async close(): Promise<void> {}

  /** Sends the request; resolves once the upstream's response head has come (its refusal rejects), with its text chunks and the controller that ends its response. */
  private async open(request: GenerateRequest, options: { headers: Record<string, string>; signal: AbortSignal }) {
    const common = {
      model: this.config.model,
      max_tokens: request.maxTokens,
      temperature: request.temperature,
      seed: request.seed,
      stream: true as const,
    };
    if (request.original.messages !== undefined) {
      const stream = await this.client.chat.completions.create(
        { ...common, messages: request.original.messages.map(toUpstreamMessage) },
        options,
      );
      const chunks = (async function* () {
        for await (const chunk of stream) {
          const choice = chunk.choices[0];
          if (choice) yield { text: choice.delta?.content ?? '', finishReason: finish(choice.finish_reason) };
        }
      })();
      return { chunks, controller: stream.controller };
    }
    const stream = await this.client.completions.create(
      { ...common, prompt: request.original.prompt ?? request.tokenIds },
      options,
    );
    const chunks = (async function* () {
      for await (const chunk of stream) {
        const choice = chunk.choices[0];
        if (choice) yield { text: choice.text ?? '', finishReason: finish(choice.finish_reason) };
      }
    })();
    return { chunks, controller: stream.controller };
  }
}

/** Tool results travel without their call ids here (tools are not supported): as user text. */
function toUpstreamMessage(message: ChatMessage): OpenAI.ChatCompletionMessageParam {
  return message.role === 'tool'
    ? { role: 'user', content: message.content }
    : { role: message.role, content: message.content };
}

function finish(reason: string | null | undefined): FinishReason | undefined {
  if (reason === null || reason === undefined) return undefined;
  return reason === 'length' ? 'length' : 'stop';
}
