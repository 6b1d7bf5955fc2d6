import type { GeneratedLogprob, ProcessorEvent } from '../../protocol/pipeline.types.js';

type TextEvent = Extract<ProcessorEvent, { type: 'text' }>;
type RefusalEvent = Extract<ProcessorEvent, { type: 'refusal' }>;
export type ItemStatus = 'in_progress' | 'completed' | 'incomplete';

/** A streamed event before its `sequence_number`: its `type` and fields. */
export interface StreamEvent {
  type: string;
  [field: string]: unknown;
}

/** One output item of a response, built from the pipeline's events; it streams its own events. */
export abstract class OutputItem {
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
export class MessageItem extends OutputItem {
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
export class FunctionCallItem extends OutputItem {
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
