import { describe, expect, it } from 'vitest';
import { Tokenizer } from '../../processor/tokenizer.js';
import type { GenerateRequest } from '../../protocol/pipeline.types.js';
import { upstreamChat, upstreamPrompt } from './upstream-continuation.js';

const tokenizer = new Tokenizer();
const produced = tokenizer.encode(' once upon a time');

function request(original: GenerateRequest['original'], promptIds: number[], continued: boolean): GenerateRequest {
  return {
    tokenIds: continued ? [...promptIds, ...produced] : promptIds,
    maxTokens: 10,
    temperature: 0,
    seed: undefined,
    original,
    ...(continued ? { continuation: { promptTokens: promptIds.length, generatedTokens: produced.length } } : {}),
  };
}

describe("the openai engine's request for a migrated generation", () => {
  it('completions: the prompt followed by the text produced (ids followed by ids)', () => {
    const ids = tokenizer.encode('Tell me');
    expect(upstreamPrompt(request({ prompt: 'Tell me' }, ids, false), tokenizer)).toBe('Tell me');
    expect(upstreamPrompt(request({ prompt: 'Tell me' }, ids, true), tokenizer)).toBe('Tell me once upon a time');
    expect(upstreamPrompt(request({ prompt: ids }, ids, true), tokenizer)).toEqual([...ids, ...produced]);
  });

  it('chat: the partial answer as a final assistant message, continued rather than answered anew', () => {
    const messages = [{ role: 'user' as const, content: 'Tell me' }];
    const ids = tokenizer.encodeChat(messages);
    expect(upstreamChat(messages, request({ messages }, ids, false), tokenizer)).toEqual({ messages });
    expect(upstreamChat(messages, request({ messages }, ids, true), tokenizer)).toEqual({
      messages: [...messages, { role: 'assistant', content: ' once upon a time' }],
      continue_final_message: true,
      add_generation_prompt: false,
    });
  });

  it("chat: the client's own continue_final_message goes on, and a partial answer then ends its last message", () => {
    const messages = [
      { role: 'user' as const, content: 'Tell me' },
      { role: 'assistant' as const, content: 'Well,' },
    ];
    const chatTemplate = { addGenerationPrompt: false, continueFinalMessage: true };
    const ids = tokenizer.encodeChat(messages, undefined, chatTemplate);
    expect(upstreamChat(messages, request({ messages, chatTemplate }, ids, false), tokenizer)).toEqual({
      messages,
      continue_final_message: true,
      add_generation_prompt: false,
    });
    expect(upstreamChat(messages, request({ messages, chatTemplate }, ids, true), tokenizer)).toEqual({
      messages: [messages[0], { role: 'assistant', content: 'Well, once upon a time' }],
      continue_final_message: true,
      add_generation_prompt: false,
    });
  });
});
