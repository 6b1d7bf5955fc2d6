import type { ApiKind, FinishReason, GeneratedLogprob, ProcessorEvent } from '../protocol/pipeline.types.js';

type UsageEvent = Extract<ProcessorEvent, { type: 'usage' }>;
type TextEvent = Extract<ProcessorEvent, { type: 'text' }>;
type ToolCallEvent = Extract<ProcessorEvent, { type: 'tool_call' }>;
type RefusalEvent = Extract<ProcessorEvent, { type: 'refusal' }>;
type ReasoningEvent = Extract<ProcessorEvent, { type: 'reasoning' }>;
type FinishEvent = Extract<ProcessorEvent, { type: 'finish' }>;

/** Stand-ins for a text chunk's choice index and text, to find where they go in its JSON. */
const INDEX_MARK = 987_654_321;
const TEXT_MARK = '\u0001text\u0001';

/** One choice of a whole (non-streamed) response, as its events add up. */
export class CollectedChoice {
  text = '';
  /** The model's refusal, when it declined (chat only). */
  refusal: string | undefined;
  /** The model's reasoning, when it gave any (chat only). */
  reasoning: string | undefined;
  readonly toolCalls: Array<{ id: string; type: 'function'; function: { name: string; arguments: string } }> = [];
  /** Present when logprobs were asked for (the text events carry them). */
  logprobs: GeneratedLogprob[] | undefined;
  reason: FinishReason | undefined;

  add(event: ProcessorEvent): void {
    if (event.type === 'text') {
      this.text += event.text;
      if (event.logprobs !== undefined) (this.logprobs ??= []).push(...event.logprobs);
    } else if (event.type === 'refusal') {
      this.refusal = (this.refusal ?? '') + event.text;
    } else if (event.type === 'reasoning') {
      this.reasoning = (this.reasoning ?? '') + event.text;
    } else if (event.type === 'tool_call') {
      const call = (this.toolCalls[event.index] ??= {
        id: '',
        type: 'function',
        function: { name: '', arguments: '' },
      });
      if (event.id !== undefined) call.id = event.id;
      if (event.name !== undefined) call.function.name = event.name;
      call.function.arguments += event.arguments;
    } else if (event.type === 'finish') this.reason = event.reason;
  }
}

/** Chat's `logprobs` entry for a token: OpenAI's field names. */
function chatLogprob({ token, logprob, bytes, top }: GeneratedLogprob) {
  return {
    token,
    logprob,
    bytes,
    top_logprobs: top.map((alt) => ({ token: alt.token, logprob: alt.logprob, bytes: alt.bytes })),
  };
}

/**
 * The completions API's `logprobs` for tokens whose text starts at `offset` of the choice's text:
 * parallel lists, the alternatives as a map that always holds the sampled token too.
 */
function completionLogprobs(entries: readonly GeneratedLogprob[], offset: number) {
  const textOffset: number[] = [];
  for (const entry of entries) {
    textOffset.push(offset);
    offset += entry.token.length;
  }
  return {
    tokens: entries.map((entry) => entry.token),
    token_logprobs: entries.map((entry) => entry.logprob),
    top_logprobs: entries.map((entry) =>
      Object.fromEntries([...entry.top, entry].map((alt) => [alt.token, alt.logprob] as const)),
    ),
    text_offset: textOffset,
  };
}

/** OpenAI's `usage` object. */
export function usageBody(usage: UsageEvent) {
  return {
    prompt_tokens: usage.promptTokens,
    completion_tokens: usage.completionTokens,
    total_tokens: usage.promptTokens + usage.completionTokens,
    prompt_tokens_details: { cached_tokens: usage.cachedTokens },
    ...(usage.reasoningTokens !== undefined && {
      completion_tokens_details: { reasoning_tokens: usage.reasoningTokens },
    }),
  };
}

/**
 * What the chunk opening a chat stream's choice says of its `content`: OpenAI opens a text answer with
 * `content: ''` and a tool call with `content: null`. The chunk goes out before the first token, so
 * when the answer may be either (tools, `tool_choice` `auto`) it says nothing of the content.
 */
export type OpeningContent = '' | null | undefined;

/** The opening content for a chat body the Processor accepted: from its `tools` and `tool_choice`. */
export function openingContent(body: unknown): OpeningContent {
  const { tools, tool_choice: choice } = (body ?? {}) as { tools?: unknown; tool_choice?: unknown };
  if (!Array.isArray(tools) || tools.length === 0 || choice === 'none') return '';
  return choice === 'required' || (typeof choice === 'object' && choice !== null) ? null : undefined;
}

/**
 * Builds OpenAI response bodies and stream chunks for one request. The body's `id` is
 * `chatcmpl-<request id>` (`cmpl-` for completions), so a client can join a body to the header.
 */
export class OpenAIResponseBuilder {
  readonly id: string;
  private readonly created = Math.floor(Date.now() / 1000);
  /** Completions: where each streamed choice's next text starts, for `text_offset`. */
  private readonly offsets = new Map<number, number>();
  private textEventParts: [string, string, string] | undefined;
  /** The upstream's `system_fingerprint`, once an engine told it: on every chunk after, and on the body. */
  private systemFingerprint: string | undefined;

  constructor(
    private readonly api: ApiKind,
    readonly requestId: string,
    private readonly model: string,
    private readonly opening: OpeningContent,
    /** The prompt's tokens, when every chunk carries the usage so far (vLLM's `continuous_usage_stats`). */
    private readonly continuousUsageOf?: number,
  ) {
    this.id = `${api === 'chat' ? 'chatcmpl' : 'cmpl'}-${requestId}`;
  }

  /** Takes the first fingerprint a choice tells (its chunks' JSON then changes). */
  fingerprint(systemFingerprint: string): void {
    if (this.systemFingerprint !== undefined) return;
    this.systemFingerprint = systemFingerprint;
    this.textEventParts = undefined;
  }

  /** The chunks that open a chat stream: the assistant role, once per choice. */
  openingChunks(n: number): object[] {
    if (this.api !== 'chat') return [];
    const delta = this.opening === undefined ? { role: 'assistant' } : { role: 'assistant', content: this.opening };
    return Array.from({ length: n }, (_, index) =>
      this.chunk([{ index, delta, logprobs: null, finish_reason: null }], 0),
    );
  }

  /**
   * `data: <textChunk(event) as JSON>` and its blank line, the SSE event of a text chunk. Without
   * log-probabilities, only the choice's index and text change from one token to the next: the rest
   * is rendered once, and each token costs the JSON of its text alone.
   */
  textEvent(event: TextEvent): string {
    if (event.logprobs !== undefined || this.continuousUsageOf !== undefined)
      return `data: ${JSON.stringify(this.textChunk(event))}\n\n`;
    const [head, middle, tail] = (this.textEventParts ??= this.renderTextEventParts());
    return `${head}${event.choice}${middle}${JSON.stringify(event.text)}${tail}`;
  }

  /** What `textEvent` puts around a chunk's choice index and text: the JSON of a chunk split at them. */
  private renderTextEventParts(): [string, string, string] {
    const json = `data: ${JSON.stringify(this.textChunk({ type: 'text', choice: INDEX_MARK, text: TEXT_MARK }))}\n\n`;
    // The choices come last in a chunk: the marks' last places are theirs, whatever the id or model hold.
    const index = json.lastIndexOf(String(INDEX_MARK));
    const text = json.lastIndexOf(JSON.stringify(TEXT_MARK));
    return [
      json.slice(0, index),
      json.slice(index + String(INDEX_MARK).length, text),
      json.slice(text + JSON.stringify(TEXT_MARK).length),
    ];
  }

  textChunk(event: TextEvent): object {
    if (this.api === 'chat') {
      const logprobs =
        event.logprobs === undefined ? null : { content: event.logprobs.map(chatLogprob), refusal: null };
      return this.chunk(
        [{ index: event.choice, delta: { content: event.text }, logprobs, finish_reason: null }],
        event.completionTokens,
      );
    }
    let logprobs = null;
    if (event.logprobs !== undefined) {
      const offset = this.offsets.get(event.choice) ?? 0;
      logprobs = completionLogprobs(event.logprobs, offset);
      this.offsets.set(event.choice, offset + event.logprobs.reduce((sum, entry) => sum + entry.token.length, 0));
    }
    return this.chunk(
      [{ index: event.choice, text: event.text, logprobs, finish_reason: null }],
      event.completionTokens,
    );
  }

  /** A chat stream's tool call delta: the first of a call has its id, type and name, each more of its arguments. */
  toolCallChunk(event: ToolCallEvent): object {
    const call =
      event.id !== undefined || event.name !== undefined
        ? {
            index: event.index,
            id: event.id,
            type: 'function',
            function: { name: event.name, arguments: event.arguments },
          }
        : { index: event.index, function: { arguments: event.arguments } };
    return this.chunk(
      [{ index: event.choice, delta: { tool_calls: [call] }, logprobs: null, finish_reason: null }],
      event.completionTokens,
    );
  }

  /** A chat stream's reasoning delta, in the `reasoning_content` of vLLM, SGLang and DeepSeek. */
  reasoningChunk(event: ReasoningEvent): object {
    return this.chunk(
      [{ index: event.choice, delta: { reasoning_content: event.text }, logprobs: null, finish_reason: null }],
      event.completionTokens,
    );
  }

  /** A chat stream's refusal delta. */
  refusalChunk(event: RefusalEvent): object {
    return this.chunk(
      [{ index: event.choice, delta: { refusal: event.text }, logprobs: null, finish_reason: null }],
      event.completionTokens,
    );
  }

  finishChunk(event: FinishEvent): object {
    const choice =
      this.api === 'chat'
        ? { index: event.choice, delta: {}, logprobs: null, finish_reason: event.reason }
        : { index: event.choice, text: '', logprobs: null, finish_reason: event.reason };
    return this.chunk([choice], event.completionTokens);
  }

  /** The last chunk when the client asked for `stream_options.include_usage`: no choices, the usage. */
  usageChunk(usage: UsageEvent): object {
    return { ...this.chunk([]), usage: usageBody(usage) };
  }

  /** A whole (non-streamed) response from what each choice's events added up to. */
  completion(collected: readonly CollectedChoice[], usage: UsageEvent): object {
    const choices = collected.map(({ text, refusal = null, reasoning, toolCalls, logprobs, reason }, index) => {
      const finish_reason = reason ?? 'length';
      if (this.api !== 'chat') {
        return {
          index,
          text,
          logprobs: logprobs === undefined ? null : completionLogprobs(logprobs, 0),
          finish_reason,
        };
      }
      // A turn of tool calls alone, or a refusal, has no content, as OpenAI gives it.
      const calls = toolCalls.filter((call) => call !== undefined);
      const content = text === '' && (calls.length > 0 || refusal !== null) ? null : text;
      const message = {
        role: 'assistant',
        content,
        refusal,
        ...(reasoning !== undefined && { reasoning_content: reasoning }),
        ...(calls.length > 0 && { tool_calls: calls }),
      };
      const chatLogprobs = logprobs === undefined ? null : { content: logprobs.map(chatLogprob), refusal: null };
      return { index, message, logprobs: chatLogprobs, finish_reason };
    });
    const object = this.api === 'chat' ? 'chat.completion' : 'text_completion';
    return {
      id: this.id,
      object,
      created: this.created,
      model: this.model,
      ...this.fingerprintField(),
      choices,
      usage: usageBody(usage),
    };
  }

  private fingerprintField(): { system_fingerprint?: string } {
    return this.systemFingerprint === undefined ? {} : { system_fingerprint: this.systemFingerprint };
  }

  /** A chunk of `choices`; with the usage so far when every chunk carries it, its choice's `completionTokens` of it. */
  private chunk(choices: object[], completionTokens?: number): object {
    const object = this.api === 'chat' ? 'chat.completion.chunk' : 'text_completion';
    const chunk = {
      id: this.id,
      object,
      created: this.created,
      model: this.model,
      ...this.fingerprintField(),
      choices,
    };
    const prompt = this.continuousUsageOf;
    if (prompt === undefined || completionTokens === undefined) return chunk;
    const usage = {
      prompt_tokens: prompt,
      completion_tokens: completionTokens,
      total_tokens: prompt + completionTokens,
    };
    return { ...chunk, usage };
  }
}
