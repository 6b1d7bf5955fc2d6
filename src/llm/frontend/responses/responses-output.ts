import type { FinishReason, ProcessorEvent } from '../../protocol/pipeline.types.js';
import { FunctionCallItem, MessageItem, OutputItem } from './responses-items.js';
import type { ItemStatus, StreamEvent } from './responses-items.js';
import { ReasoningItem } from './reasoning-item.js';

type UsageEvent = Extract<ProcessorEvent, { type: 'usage' }>;

/**
 * The response's output as the pipeline's events build it, and the stream events that tell it: the
 * reasoning is a `reasoning` item, the text a `message` item (a refusal one of its own), each tool call a
 * `function_call` item. An item is
 * done once it is known to be whole: when another begins, if it is complete, else at the end. A model
 * making parallel calls may send their arguments' pieces in turns (vLLM does): each call stays open, its
 * pieces going to it, until its arguments are whole.
 */
export class ResponseOutput {
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
    if (event.type === 'reasoning') {
      const last = this.items.at(-1);
      if (last instanceof ReasoningItem && last.open) return [last.append(event)];
      const reasoning = new ReasoningItem(this.itemId('rs'), this.items.length);
      const events = [...this.closeComplete(), ...this.add(reasoning).opening()];
      return [...events, reasoning.append(event)];
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
