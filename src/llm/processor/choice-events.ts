import type { ChoiceEvent, GenerateOutput, GeneratedLogprob, ProcessorEvent } from '../protocol/pipeline.types.js';
import { IncrementalDetokenizer } from './incremental-detokenizer.js';
import type { Tokenizer } from './tokenizer.js';

/**
 * Hands out the tokens' log-probabilities with the text they make up. Text can come later than its
 * tokens (a character split across tokens, text held back by a stop sequence) or never (past a stop
 * sequence): a token's entry goes out with the text event that completes its bytes.
 */
export class LogprobAligner {
  private readonly pending: GeneratedLogprob[] = [];
  /** Bytes of text sent, and bytes of the tokens whose entries went out. */
  private sentBytes = 0;
  private releasedBytes = 0;

  add(logprobs: readonly GeneratedLogprob[] | undefined): void {
    if (logprobs !== undefined) for (const entry of logprobs) this.pending.push(entry);
  }

  /** The entries of the tokens `text` completes. */
  take(text: string): GeneratedLogprob[] {
    this.sentBytes += Buffer.byteLength(text, 'utf8');
    let count = 0;
    while (count < this.pending.length && this.releasedBytes + this.pending[count]!.bytes.length <= this.sentBytes) {
      this.releasedBytes += this.pending[count]!.bytes.length;
      count++;
    }
    return this.pending.splice(0, count);
  }

  /** Whatever is left, at the end of a stream that was not cut by a stop sequence. */
  rest(): GeneratedLogprob[] {
    return this.pending.splice(0);
  }
}

/**
 * The arguments of a choice's tool calls, each call's tokens turned into text by a detokenizer of its
 * own: OpenAI streams a call as a first delta with its id and name, then pieces of its arguments.
 */
export class ToolCallTexts {
  private readonly calls = new Map<number, IncrementalDetokenizer>();
  /** `id:<index>`, `name:<index>`: the call ids and names already sent. */
  private readonly said = new Set<string>();

  constructor(
    private readonly tokenizer: Tokenizer,
    private readonly choice: number,
  ) {}

  /** The event for a worker's output that belongs to tool call `output.toolCall.index`, if any. */
  push(output: GenerateOutput & { toolCall: NonNullable<GenerateOutput['toolCall']> }): ChoiceEvent | undefined {
    const { index } = output.toolCall;
    let detokenizer = this.calls.get(index);
    if (detokenizer === undefined) {
      detokenizer = new IncrementalDetokenizer(this.tokenizer);
      this.calls.set(index, detokenizer);
    }
    // A call's id and name go out once each: the engine that goes on with a migrated call may say them again.
    const id = this.once('id', index, output.toolCall.id);
    const name = this.once('name', index, output.toolCall.name);
    const text = detokenizer.push(output.tokenIds);
    if (text === '' && id === undefined && name === undefined) return undefined;
    const event: Extract<ProcessorEvent, { type: 'tool_call' }> = {
      type: 'tool_call',
      choice: this.choice,
      index,
      arguments: text,
    };
    if (id !== undefined) event.id = id;
    if (name !== undefined) event.name = name;
    return event;
  }

  private once(field: 'id' | 'name', index: number, value: string | undefined): string | undefined {
    const key = `${field}:${index}`;
    if (value === undefined || this.said.has(key)) return undefined;
    this.said.add(key);
    return value;
  }

  /** The last characters of each call's arguments, when a token ended inside one. */
  *flush(): Generator<ChoiceEvent> {
    for (const [index, detokenizer] of this.calls) {
      const text = detokenizer.flush();
      if (text) yield { type: 'tool_call', choice: this.choice, index, arguments: text };
    }
  }

  get count(): number {
    return this.calls.size;
  }
}

/** A choice's refusal, its tokens turned into text by a detokenizer of its own (it is not content). */
export class RefusalText {
  private detokenizer: IncrementalDetokenizer | undefined;

  constructor(
    private readonly tokenizer: Tokenizer,
    private readonly choice: number,
    /** The model's reasoning is text apart from the content too, told the same way. */
    private readonly type: 'refusal' | 'reasoning' = 'refusal',
  ) {}

  /** The event for more of the refusal's tokens, if they complete any text. */
  push(tokenIds: readonly number[]): ChoiceEvent | undefined {
    this.detokenizer ??= new IncrementalDetokenizer(this.tokenizer);
    const text = this.detokenizer.push(tokenIds);
    return text === '' ? undefined : { type: this.type, choice: this.choice, text };
  }

  /** The refusal's last characters, when a token ended inside one. */
  *flush(): Generator<ChoiceEvent> {
    const text = this.detokenizer?.flush();
    if (text) yield { type: this.type, choice: this.choice, text };
  }
}
