import type { ChatMessage } from '../protocol/pipeline.types.js';

/**
 * Renders a conversation in the ChatML template (`<|im_start|>role\ncontent<|im_end|>`) and opens the
 * assistant's turn, as the chat models of the o200k tokenizer family expect.
 */
export function applyChatTemplate(messages: readonly ChatMessage[]): string {
  let text = '';
  for (const message of messages) text += `<|im_start|>${message.role}\n${message.content}<|im_end|>\n`;
  return `${text}<|im_start|>assistant\n`;
}
