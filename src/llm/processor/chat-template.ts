import type { ChatMessage, ChatTemplateOptions, ChatTool } from '../protocol/pipeline.types.js';

/** One part of a rendered conversation: a template marker (a special token) or plain text. */
export type TemplatePart = { special: '<|im_start|>' | '<|im_end|>' } | { text: string };

/**
 * A conversation in the ChatML template (`<|im_start|>role\ncontent<|im_end|>\n` per message, then
 * the assistant's turn opened), as the chat models of the o200k tokenizer family expect. The markers
 * are kept apart from the text, so text that spells a marker stays text: a user cannot forge a turn.
 * `ending` (vLLM's parameters) leaves the assistant's turn unopened, or the last message open.
 */
export function chatTemplateParts(
  messages: readonly ChatMessage[],
  tools?: readonly ChatTool[],
  ending?: ChatTemplateOptions,
): TemplatePart[] {
  const parts: TemplatePart[] = [];
  // The tools the model may call come first, in a system turn of their own, as chat models see them.
  if (tools !== undefined && tools.length > 0) {
    const list = tools.map((tool) => JSON.stringify(tool)).join('\n');
    parts.push({ special: '<|im_start|>' }, { text: `system\n<tools>\n${list}\n</tools>` });
    parts.push({ special: '<|im_end|>' }, { text: '\n' });
  }
  for (const [index, message] of messages.entries()) {
    parts.push({ special: '<|im_start|>' }, { text: `${message.role}\n${message.content}${toolCallsText(message)}` });
    if (ending?.continueFinalMessage === true && index === messages.length - 1) return parts;
    parts.push({ special: '<|im_end|>' }, { text: '\n' });
  }
  if (ending?.addGenerationPrompt !== false) parts.push({ special: '<|im_start|>' }, { text: 'assistant\n' });
  return parts;
}

/** An assistant turn's tool calls, one `<tool_call>` element each, after its content. */
function toolCallsText(message: ChatMessage): string {
  if (message.tool_calls === undefined) return '';
  return message.tool_calls
    .map(
      ({ function: { name, arguments: args } }) =>
        `\n<tool_call>\n{"name":${JSON.stringify(name)},"arguments":${args}}\n</tool_call>`,
    )
    .join('');
}

/** The template as one string, for display. */
export function applyChatTemplate(messages: readonly ChatMessage[]): string {
  return chatTemplateParts(messages)
    .map((part) => ('special' in part ? part.special : part.text))
    .join('');
}
