import { describe, expect, it } from 'vitest';
import { OpenAIResponseBuilder } from './openai-response.js';

describe('OpenAIResponseBuilder.textEvent', () => {
  const texts = ['', ' the', '"quoted" \\ back', 'line\nbreak\u2028', '漢字 🙂', '\u0001text\u0001', '987654321'];

  for (const api of ['chat', 'completion'] as const) {
    it(`is the SSE event of textChunk's JSON, byte for byte (${api})`, () => {
      // An id and a model holding the stand-ins the fixed parts are found by.
      const response = new OpenAIResponseBuilder(api, 'req-987654321', 'model "987654321" \u0001text\u0001', undefined);
      for (const [choice, text] of texts.entries()) {
        const event = { type: 'text', choice, text } as const;
        expect(response.textEvent(event)).toBe(`data: ${JSON.stringify(response.textChunk(event))}\n\n`);
      }
    });
  }

  it('renders a chunk with log-probabilities whole, as textChunk has it', () => {
    const response = new OpenAIResponseBuilder('completion', 'req-1', 'm', undefined);
    const again = new OpenAIResponseBuilder('completion', 'req-1', 'm', undefined);
    const event = {
      type: 'text' as const,
      choice: 0,
      text: ' hi',
      logprobs: [{ token: ' hi', logprob: -0.5, bytes: [32, 104, 105], top: [] }],
    };
    expect(response.textEvent(event)).toBe(`data: ${JSON.stringify(again.textChunk(event))}\n\n`);
  });
});
