import type { ProcessorEvent } from '../../protocol/pipeline.types.js';
import { OutputItem } from './responses-items.js';
import type { ItemStatus, StreamEvent } from './responses-items.js';

type ReasoningEvent = Extract<ProcessorEvent, { type: 'reasoning' }>;

/**
 * The model's reasoning (an upstream's `reasoning_content`) as the Responses API gives it: a `reasoning`
 * item with one `reasoning_text` part and no summary, streamed as `response.reasoning_text.delta` events.
 */
export class ReasoningItem extends OutputItem {
  private text = '';

  /** Its text goes on in no other item: once another begins, the reasoning is whole. */
  readonly complete = true;

  opening(): StreamEvent[] {
    return [this.added(), { type: 'response.content_part.added', ...this.at(), part: this.part('') }];
  }

  append(event: ReasoningEvent): StreamEvent {
    this.text += event.text;
    return { type: 'response.reasoning_text.delta', ...this.at(), delta: event.text };
  }

  protected closing(): StreamEvent[] {
    return [
      { type: 'response.reasoning_text.done', ...this.at(), text: this.text },
      { type: 'response.content_part.done', ...this.at(), part: this.part(this.text) },
    ];
  }

  protected shape(status: ItemStatus): object {
    const content = status === 'in_progress' ? [] : [this.part(this.text)];
    return { id: this.id, type: 'reasoning', summary: [], content, status };
  }

  private part(text: string): object {
    return { type: 'reasoning_text', text };
  }

  private at() {
    return { item_id: this.id, output_index: this.outputIndex, content_index: 0 };
  }
}
