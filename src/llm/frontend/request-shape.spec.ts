import { describe, expect, it } from 'vitest';
import { MAX_JSON_DEPTH, nestingDepth, requestForBus } from './request-shape.js';

describe('the request body the Frontend puts on the bus', () => {
  it('keeps the fields the Processor reads and drops those with nothing to do here', () => {
    expect(requestForBus('chat', { model: 'm', messages: [], user: 'u', store: false, tools: [{}] })).toEqual({
      model: 'm',
      messages: [],
      tools: [{}],
    });
    expect(requestForBus('completion', { model: 'm', prompt: 'p', user: 'u', logprobs: 2 })).toEqual({
      model: 'm',
      prompt: 'p',
      logprobs: 2,
    });
  });

  it('refuses a field OpenAI defines and this server does not implement, unless it asks for nothing', () => {
    expect(() => requestForBus('chat', { model: 'm', logit_bias: { 1: 5 } })).toThrow(
      expect.objectContaining({ param: 'logit_bias', status: 400, code: 'unsupported_parameter' }),
    );
    expect(requestForBus('chat', { model: 'm', logit_bias: {}, functions: [], audio: null })).toEqual({ model: 'm' });
    expect(requestForBus('completion', { model: 'm', echo: false, best_of: 1 })).toEqual({ model: 'm' });
    expect(requestForBus('chat', { model: 'm', modalities: ['text'], verbosity: 'medium' })).toEqual({ model: 'm' });
    for (const [field, value] of [
      ['modalities', ['text', 'audio']],
      ['verbosity', 'low'],
    ] as const) {
      expect(() => requestForBus('chat', { model: 'm', [field]: value })).toThrow(
        expect.objectContaining({ param: field, code: 'unsupported_parameter' }),
      );
    }
    expect(() => requestForBus('completion', { model: 'm', best_of: 3 })).toThrow(
      expect.objectContaining({ param: 'best_of' }),
    );
  });

  it('refuses a value OpenAI would refuse in a field it drops, naming the field', () => {
    const refused: Array<[string, unknown]> = [
      ['user', 5],
      ['user', {}],
      ['store', 'yes'],
      ['service_tier', 5],
      ['prompt_cache_key', 5],
      ['safety_identifier', []],
      ['metadata', 5],
      ['metadata', ['a']],
      ['metadata', { key: 1 }],
      ['metadata', { ['k'.repeat(65)]: 'v' }],
      ['metadata', Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v']))],
    ];
    for (const [field, value] of refused) {
      expect(() => requestForBus('chat', { model: 'm', [field]: value }), `${field}: ${JSON.stringify(value)}`).toThrow(
        expect.objectContaining({ param: field, status: 400 }),
      );
    }
    expect(() => requestForBus('completion', { model: 'm', user: 5 })).toThrow(
      expect.objectContaining({ param: 'user' }),
    );
    const taken = { user: null, store: true, service_tier: 'auto', metadata: { k: 'v' }, safety_identifier: 's' };
    expect(requestForBus('chat', { model: 'm', ...taken })).toEqual({ model: 'm' });
  });

  it('names a long unknown field by its start and length, not whole', () => {
    const field = 'x'.repeat(100_000);
    expect(() => requestForBus('chat', { model: 'm', [field]: 1 })).toThrow(
      expect.objectContaining({
        message: `Unrecognized request argument supplied: ${'x'.repeat(64)}… (100000 characters)`,
      }),
    );
  });

  it("refuses a field OpenAI does not define (or not for this API) in OpenAI's words", () => {
    expect(() => requestForBus('chat', { model: 'm', prompt: 'p' })).toThrow(
      expect.objectContaining({ message: 'Unrecognized request argument supplied: prompt', status: 400 }),
    );
    expect(() => requestForBus('completion', { model: 'm', messages: [] })).toThrow(
      expect.objectContaining({ message: 'Unrecognized request argument supplied: messages', status: 400 }),
    );
  });

  it('refuses a field nested past the limit, naming it, even one it would drop', () => {
    let deep: unknown = [];
    for (let i = 0; i < 10_000; i++) deep = [deep];
    expect(() => requestForBus('chat', { model: 'm', extra: deep })).toThrow(
      expect.objectContaining({ param: 'extra', status: 400, code: 'json_too_deep' }),
    );
  });

  it('counts depth without recursion and stops past the limit', () => {
    expect(nestingDepth({ a: [{ b: 1 }] }, MAX_JSON_DEPTH)).toBe(3);
    expect(nestingDepth('text', MAX_JSON_DEPTH)).toBe(0);
  });
});
