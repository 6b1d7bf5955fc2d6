import type { ChatMessage } from '../protocol/pipeline.types.js';

/** One part of a rendered conversation: a template marker (a special token) or plain text. */
export type TemplatePart = { special: '<|im_start|>' | '<|im_end|>' } | { text: string };

/**
 * A conversation in the ChatML template (`<|im_start|>role\ncontent<|im_end|>\n` per message, then
 * the assistant's turn opened), as the chat models of the o200k tokenizer family expect. The markers
 * are kept apart from the text, so text that spells a marker stays text: a user cannot forge a turn.
 */
export function chatTemplateParts(messages: readonly ChatMessage[]): TemplatePart[] {
  const parts: TemplatePart[] = [];
  for (const message of messages) {
    parts.push(
      { special: '<|im_start|>' },
      { text: `${message.role}\n${message.content}` },
      { special: '<|im_end|>' },
      { text: '\n' },
    );
  }
  parts.push({ special: '<|im_start|>' }, { text: 'assistant\n' });
  return parts;
}

/** The template as one string, for display. */
export function applyChatTemplate(messages: readonly ChatMessage[]): string {
  return chatTemplateParts(messages)
    .map((part) => ('special' in part ? part.special : part.text))
    .join('');
}
