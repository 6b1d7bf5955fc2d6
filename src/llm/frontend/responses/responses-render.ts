import { CLIENT_CLOSED_REQUEST } from '../../../observability/metrics/frontend.metrics.js';
import type { RequestMeter } from '../../../observability/metrics/frontend.metrics.js';
import type { FinishReason, GeneratedLogprob, ProcessorEvent } from '../../protocol/pipeline.types.js';
import { toOpenAIError } from '../openai-error.js';
import type { PipelineRendering } from '../pipeline-call.js';
import { logRequestFailure } from '../request-failure-log.js';
import type { ReplyHeaders, SseResponse } from '../sse-response.js';
import type { ResponseSettings } from './responses-request.js';

type UsageEvent = Extract<ProcessorEvent, { type: 'usage' }>;
type TextEvent = Extract<ProcessorEvent, { type: 'text' }>;
type RefusalEvent = Extract<ProcessorEvent, { type: 'refusal' }>;
type ResponseStatus = 'in_progress' | 'completed' | 'incomplete' | 'failed';
type ItemStatus = 'in_progress' | 'completed' | 'incomplete';

/** A streamed event before its `sequence_number`: its `type` and fields. */
interface StreamEvent {
  type: string;
  [field: string]: unknown;
}

/** One output item of a response, built from the pipeline's events; it streams its own events. */
abstract class OutputItem {
  /** Set when the item is closed: a response's items are told one after another. */
  private closed: ItemStatus | undefined;

  constructor(
    readonly id: string,
    readonly outputIndex: number,
  ) {}

  get open(): boolean {
    return this.closed === undefined;
  }

  /** The item as the response object shows it: with the status it closed with, else `status`. */
  body(status: ItemStatus): object {
    return this.shape(this.closed ?? status);
  }

  /** The events that close the item, its `response.output_item.done` last. */
  close(status: ItemStatus): StreamEvent[] {
    this.closed = status;
    return [
      ...this.closing(),
      { type: 'response.output_item.done', output_index: this.outputIndex, item: this.shape(status) },
    ];
  }

  protected added(): StreamEvent {
    return { type: 'response.output_item.added', output_index: this.outputIndex, item: this.shape('in_progress') };
  }

  /** Whether the item can be closed before the output ends: nothing more can come to it. */
  abstract readonly complete: boolean;

  protected abstract shape(status: ItemStatus): object;
  protected abstract closing(): StreamEvent[];
}

/**
 * The assistant's message: one part, grown by its events: an `output_text` part by the text events, with
 * their logprobs, or a `refusal` part by the refusal events (the model declined, saying why).
 */
class MessageItem extends OutputItem {
  private text = '';
  private readonly logprobs: GeneratedLogprob[] = [];
  private started = false;

  constructor(
    id: string,
    outputIndex: number,
    readonly refusal = false,
  ) {
    super(id, outputIndex);
  }

  /** Its text goes on in no other item: once another begins, the message is whole. */
  readonly complete = true;

  opening(): StreamEvent[] {
    this.started = true;
    return [this.added(), { type: 'response.content_part.added', ...this.at(), part: this.part('') }];
  }

  append(event: TextEvent | RefusalEvent): StreamEvent {
    this.text += event.text;
    if (event.type === 'refusal') return { type: 'response.refusal.delta', ...this.at(), delta: event.text };
    this.logprobs.push(...(event.logprobs ?? []));
    const logprobs = (event.logprobs ?? []).map(eventLogprob);
    return { type: 'response.output_text.delta', ...this.at(), delta: event.text, logprobs };
  }

  protected closing(): StreamEvent[] {
    const done = this.refusal
      ? { type: 'response.refusal.done', ...this.at(), refusal: this.text }
      : { type: 'response.output_text.done', ...this.at(), text: this.text, logprobs: this.logprobs.map(eventLogprob) };
    return [
      ...(this.started ? [] : this.opening()),
      done,
      { type: 'response.content_part.done', ...this.at(), part: this.part(this.text) },
    ];
  }

  protected shape(status: ItemStatus): object {
    const content = status === 'in_progress' ? [] : [this.part(this.text)];
    return { id: this.id, type: 'message', status, content, role: 'assistant' };
  }

  private part(text: string): object {
    return this.refusal ? { type: 'refusal', refusal: text } : part(text, this.logprobs);
  }

  private at() {
    return { item_id: this.id, output_index: this.outputIndex, content_index: 0 };
  }
}

/** A call of one of the request's functions: its arguments, a JSON text, grown by the tool call events. */
class FunctionCallItem extends OutputItem {
  private arguments = '';

  constructor(
    id: string,
    outputIndex: number,
    private readonly callId: string,
    private readonly name: string,
  ) {
    super(id, outputIndex);
  }

  /** Its arguments are a whole JSON object, which no more text can extend. */
  get complete(): boolean {
    try {
      const value: unknown = JSON.parse(this.arguments);
      return typeof value === 'object' && value !== null && !Array.isArray(value);
    } catch {
      return false;
    }
  }

  opening(): StreamEvent[] {
    return [this.added()];
  }

  append(delta: string): StreamEvent[] {
    if (delta === '') return [];
    if (!this.open) {
      // Closed once its arguments were a whole object: white space after it changes nothing.
      if (delta.trim() === '') return [];
      throw new Error(`The model sent more arguments for its tool call ${this.callId} after they were complete.`);
    }
    this.arguments += delta;
    return [
      { type: 'response.function_call_arguments.delta', item_id: this.id, output_index: this.outputIndex, delta },
    ];
  }

  protected closing(): StreamEvent[] {
    const { id, outputIndex, arguments: args } = this;
    return [{ type: 'response.function_call_arguments.done', item_id: id, output_index: outputIndex, arguments: args }];
  }

  protected shape(status: ItemStatus): object {
    const { id, arguments: args, callId, name } = this;
    return { id, type: 'function_call', status, arguments: args, call_id: callId, name };
  }
}

/** An `output_text` part: logprobs as the part carries them, each token's bytes with it. */
function part(text: string, logprobs: readonly GeneratedLogprob[]): object {
  const entries = logprobs.map(({ token, bytes, logprob, top }) => ({
    token,
    bytes,
    logprob,
    top_logprobs: top.map((alt) => ({ token: alt.token, bytes: alt.bytes, logprob: alt.logprob })),
  }));
  return { type: 'output_text', annotations: [], logprobs: entries, text };
}

/** A token's logprob as the text events carry it: no bytes. */
function eventLogprob({ token, logprob, top }: GeneratedLogprob) {
  return { token, logprob, top_logprobs: top.map((alt) => ({ token: alt.token, logprob: alt.logprob })) };
}

/**
 * The response's output as the pipeline's events build it, and the stream events that tell it: the
 * text is a `message` item (a refusal one of its own), each tool call a `function_call` item. An item is
 * done once it is known to be whole: when another begins, if it is complete, else at the end. A model
 * making parallel calls may send their arguments' pieces in turns (vLLM does): each call stays open, its
 * pieces going to it, until its arguments are whole.
 */
class ResponseOutput {
  private readonly items: OutputItem[] = [];
  /** The function call items by the index of their tool call. */
  private readonly calls = new Map<number, FunctionCallItem>();
  private finish: FinishReason | undefined;
  usage: UsageEvent | undefined;

  constructor(private readonly requestId: string) {}

  /** The stream events for one of the pipeline's events (none for most). */
  apply(event: ProcessorEvent): StreamEvent[] {
    if (event.type === 'text' || event.type === 'refusal') {
      const refusal = event.type === 'refusal';
      const last = this.items.at(-1);
      if (last instanceof MessageItem && last.open && last.refusal === refusal) return [last.append(event)];
      const message = new MessageItem(this.itemId('msg'), this.items.length, refusal);
      const events = [...this.closeComplete(), ...this.add(message).opening()];
      return [...events, message.append(event)];
    }
    if (event.type === 'tool_call') {
      const known = this.calls.get(event.index);
      if (known !== undefined) return known.append(event.arguments);
      const callId = event.id ?? `call_${this.requestId}_${event.index}`;
      const call = new FunctionCallItem(this.itemId('fc'), this.items.length, callId, event.name ?? '');
      this.calls.set(event.index, call);
      const events = [...this.closeComplete(), ...this.add(call).opening()];
      return [...events, ...call.append(event.arguments)];
    }
    if (event.type === 'finish') this.finish = event.reason;
    else if (event.type === 'usage') this.usage = event;
    return [];
  }

  /** Closes every item still open, in order; a response with no item gets an empty message. */
  close(status: ItemStatus): StreamEvent[] {
    if (this.items.length === 0) this.add(new MessageItem(this.itemId('msg'), 0));
    return this.items.filter((item) => item.open).flatMap((item) => item.close(status));
  }

  /** Why the output ended; `length` when no finish came, as the chat API reports it. */
  get reason(): FinishReason {
    return this.finish ?? 'length';
  }

  bodies(status: ItemStatus): object[] {
    return this.items.map((item) => item.body(status));
  }

  private add<T extends OutputItem>(item: T): T {
    this.items.push(item);
    return item;
  }

  /** As another item begins: closes the open items that are whole. */
  private closeComplete(): StreamEvent[] {
    return this.items.filter((item) => item.open && item.complete).flatMap((item) => item.close('completed'));
  }

  /** `msg_<request id>` or `fc_<request id>` for the first item, with its index after for any other. */
  private itemId(prefix: string): string {
    const index = this.items.length;
    return index === 0 ? `${prefix}_${this.requestId}` : `${prefix}_${this.requestId}_${index}`;
  }
}

/**
 * Renders the pipeline's events as the Responses API does: a `response` object (id `resp_<request
 * id>`), or its stream of typed events, each an SSE `event:` line with its `data:`.
 */
export class ResponsesRendering implements PipelineRendering {
  readonly id: string;
  private readonly createdAt = Math.floor(Date.now() / 1000);
  private sequence = 0;

  constructor(
    private readonly requestId: string,
    private readonly model: string,
    private readonly settings: ResponseSettings,
  ) {
    this.id = `resp_${requestId}`;
  }

  async collect(events: AsyncIterator<ProcessorEvent>, meter: RequestMeter): Promise<object> {
    const output = new ResponseOutput(this.requestId);
    for (let next = await events.next(); !next.done; next = await events.next()) {
      meter.event(next.value);
      output.apply(next.value);
    }
    if (output.usage === undefined) throw new Error('The processor stream ended without usage.');
    output.close(itemStatus(output.reason));
    return this.finished(output);
  }

  /** Runs in the request's context (it is called from the handler), so every log line has the id. */
  async stream(
    out: SseResponse,
    headers: ReplyHeaders,
    events: AsyncIterator<ProcessorEvent>,
    meter: RequestMeter,
  ): Promise<void> {
    const output = new ResponseOutput(this.requestId);
    let status = 200;
    const write = async (event: StreamEvent) => {
      if (!out.write(this.sse(event))) await out.drained();
    };
    try {
      out.open(headers);
      // An SSE comment, which clients ignore: the status and headers go out before the first token.
      out.write(': ok\n\n');
      const started = this.response('in_progress', [], null);
      await write({ type: 'response.created', response: started });
      await write({ type: 'response.in_progress', response: started });
      for (let next = await events.next(); !next.done && !out.closed; next = await events.next()) {
        meter.event(next.value);
        for (const event of output.apply(next.value)) await write(event);
      }
      if (out.closed) {
        status = CLIENT_CLOSED_REQUEST;
        return;
      }
      if (output.usage === undefined) throw new Error('The processor stream ended without usage.');
      for (const event of output.close(itemStatus(output.reason))) await write(event);
      const response = this.finished(output);
      out.end(this.sse({ type: `response.${response.status}`, response }));
    } catch (error) {
      // Headers are sent: the failure is an `error` event carrying the request id, then `response.failed`.
      const failure = toOpenAIError(error, this.requestId);
      status = failure.status;
      logRequestFailure(error, failure.status, failure.body);
      const { message, code, param } = failure.body.error;
      out.write(this.sse({ type: 'error', code, message, param }));
      const error_ = { code: code ?? 'server_error', message };
      out.end(
        this.sse({
          type: 'response.failed',
          response: this.response('failed', output.bodies('incomplete'), null, error_),
        }),
      );
    } finally {
      // A client gone mid-stream stops the pipeline (the request's signal has aborted already).
      await events.return?.();
      meter.end(status);
    }
  }

  /** The response once every event is in: `incomplete` when the output hit its token limit or a content filter. */
  private finished(output: ResponseOutput) {
    const incomplete = incompleteReason(output.reason);
    const status = incomplete === undefined ? 'completed' : 'incomplete';
    return this.response(status, output.bodies(itemStatus(output.reason)), output.usage!, null, incomplete);
  }

  /** The response object, its fields as OpenAI's, the request's settings echoed. */
  private response(
    status: ResponseStatus,
    output: object[],
    usage: UsageEvent | null,
    error: { code: string; message: string } | null = null,
    incomplete: IncompleteReason = 'max_output_tokens',
  ) {
    const { settings } = this;
    return {
      id: this.id,
      object: 'response',
      created_at: this.createdAt,
      status,
      background: false,
      // As OpenAI's: set only on a response that completed.
      completed_at: status === 'completed' ? Math.floor(Date.now() / 1000) : null,
      error,
      incomplete_details: status === 'incomplete' ? { reason: incomplete } : null,
      instructions: settings.instructions,
      max_output_tokens: settings.max_output_tokens,
      max_tool_calls: null,
      model: this.model,
      output,
      parallel_tool_calls: settings.parallel_tool_calls,
      previous_response_id: null,
      prompt_cache_key: settings.prompt_cache_key,
      reasoning: { effort: null, summary: null },
      safety_identifier: settings.safety_identifier,
      service_tier: 'default',
      // Nothing is stored, whatever the request asked.
      store: false,
      temperature: settings.temperature,
      text: { format: settings.text_format, verbosity: 'medium' },
      tool_choice: settings.tool_choice,
      tools: settings.tools,
      top_logprobs: settings.top_logprobs,
      top_p: settings.top_p,
      truncation: 'disabled',
      usage: usage === null ? null : usageBody(usage),
      user: settings.user,
      metadata: settings.metadata,
    };
  }

  private sse(event: StreamEvent): string {
    const payload = { ...event, sequence_number: this.sequence++ };
    return `event: ${event.type}\ndata: ${JSON.stringify(payload)}\n\n`;
  }
}

/** Why a response is `incomplete`, in the Responses API's words. */
type IncompleteReason = 'max_output_tokens' | 'content_filter';

function incompleteReason(reason: FinishReason): IncompleteReason | undefined {
  if (reason === 'length') return 'max_output_tokens';
  return reason === 'content_filter' ? reason : undefined;
}

function itemStatus(reason: FinishReason): ItemStatus {
  return incompleteReason(reason) === undefined ? 'completed' : 'incomplete';
}

/** The Responses API's `usage` object. */
function usageBody(usage: UsageEvent) {
  return {
    input_tokens: usage.promptTokens,
    input_tokens_details: { cached_tokens: usage.cachedTokens },
    output_tokens: usage.completionTokens,
    output_tokens_details: { reasoning_tokens: usage.reasoningTokens ?? 0 },
    total_tokens: usage.promptTokens + usage.completionTokens,
  };
}
