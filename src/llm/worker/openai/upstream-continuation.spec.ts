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

  describe("a generation lost after some of the model's reasoning", () => {
    const messages = [{ role: 'user' as const, content: 'Weather in Paris?' }];
    const reasoning = tokenizer.encode('The user wants the weather.');
    const answer = tokenizer.encode('It is sunny');
    /** A request carrying `reasoningIds` of reasoning, then `answerIds` of answer. */
    const carrying = (reasoningIds: number[], answerIds: number[], original: GenerateRequest['original']) => {
      const ids = original.prompt === undefined ? tokenizer.encodeChat(messages) : tokenizer.encode('Say');
      return {
        tokenIds: [...ids, ...reasoningIds, ...answerIds],
        maxTokens: 100,
        temperature: 0,
        seed: undefined,
        original,
        continuation: {
          promptTokens: ids.length,
          generatedTokens: reasoningIds.length + answerIds.length,
          reasoningTokens: reasoningIds.length,
        },
      };
    };

    it('chat, in its answer: the answer alone is continued, the reasoning never in it', () => {
      expect(upstreamChat(messages, carrying(reasoning, answer, { messages }), tokenizer)).toEqual({
        messages: [...messages, { role: 'assistant', content: 'It is sunny' }],
        continue_final_message: true,
        add_generation_prompt: false,
      });
    });

    it('chat, still reasoning: asked anew, so that the reasoning goes on as reasoning', () => {
      expect(upstreamChat(messages, carrying(reasoning, [], { messages }), tokenizer)).toEqual({ messages });
    });

    it('completions: the prompt followed by the answer alone', () => {
      const ids = tokenizer.encode('Say');
      expect(upstreamPrompt(carrying(reasoning, answer, { prompt: 'Say' }), tokenizer)).toBe('SayIt is sunny');
      expect(upstreamPrompt(carrying(reasoning, answer, { prompt: ids }), tokenizer)).toEqual([...ids, ...answer]);
    });
  });
});
