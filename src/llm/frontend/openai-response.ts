import type { ApiKind, FinishReason, ProcessorEvent } from '../protocol/pipeline.types.js';

type UsageEvent = Extract<ProcessorEvent, { type: 'usage' }>;
type TextEvent = Extract<ProcessorEvent, { type: 'text' }>;
type FinishEvent = Extract<ProcessorEvent, { type: 'finish' }>;

/** OpenAI's `usage` object. */
export function usageBody(usage: UsageEvent) {
  return {
    prompt_tokens: usage.promptTokens,
    completion_tokens: usage.completionTokens,
    total_tokens: usage.promptTokens + usage.completionTokens,
    prompt_tokens_details: { cached_tokens: usage.cachedTokens },
  };
}

/**
 * Builds OpenAI response bodies and stream chunks for one request. The body's `id` is
 * `chatcmpl-<request id>` (`cmpl-` for completions), so a client can join a body to the header.
 */
export class OpenAIResponseBuilder {
  readonly id: string;
  private readonly created = Math.floor(Date.now() / 1000);

  constructor(
    private readonly api: ApiKind,
    readonly requestId: string,
    private readonly model: string,
  ) {
    this.id = `${api === 'chat' ? 'chatcmpl' : 'cmpl'}-${requestId}`;
  }

  /** The chunks that open a chat stream: the assistant role, once per choice. */
  openingChunks(n: number): object[] {
    if (this.api !== 'chat') return [];
    return Array.from({ length: n }, (_, index) =>
      this.chunk([{ index, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }]),
    );
  }

  textChunk(event: TextEvent): object {
    return this.api === 'chat'
      ? this.chunk([{ index: event.choice, delta: { content: event.text }, logprobs: null, finish_reason: null }])
      : this.chunk([{ index: event.choice, text: event.text, logprobs: null, finish_reason: null }]);
  }

  finishChunk(event: FinishEvent): object {
    return this.api === 'chat'
      ? this.chunk([{ index: event.choice, delta: {}, logprobs: null, finish_reason: event.reason }])
      : this.chunk([{ index: event.choice, text: '', logprobs: null, finish_reason: event.reason }]);
  }

  /** The last chunk when the client asked for `stream_options.include_usage`: no choices, the usage. */
  usageChunk(usage: UsageEvent): object {
    return { ...this.chunk([]), usage: usageBody(usage) };
  }

  /** A whole (non-streamed) response from the collected text and finish reason of each choice. */
  completion(texts: readonly string[], reasons: ReadonlyArray<FinishReason | undefined>, usage: UsageEvent): object {
    const choices = texts.map((text, index) =>
      this.api === 'chat'
        ? {
            index,
            message: { role: 'assistant', content: text, refusal: null },
            logprobs: null,
            finish_reason: reasons[index] ?? 'length',
          }
        : { index, text, logprobs: null, finish_reason: reasons[index] ?? 'length' },
    );
    const object = this.api === 'chat' ? 'chat.completion' : 'text_completion';
    return { id: this.id, object, created: this.created, model: this.model, choices, usage: usageBody(usage) };
  }

  private chunk(choices: object[]): object {
    const object = this.api === 'chat' ? 'chat.completion.chunk' : 'text_completion';
    return { id: this.id, object, created: this.created, model: this.model, choices };
  }
}
