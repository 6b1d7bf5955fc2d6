import { describe, expect, it } from 'vitest';
import { MAX_JSON_DEPTH, nestingDepth, requestForBus } from './request-shape.js';

describe('the request body the Frontend puts on the bus', () => {
  it('drops the fields the Processor does not read and keeps the others', () => {
    expect(requestForBus('chat', { model: 'm', messages: [], user: 'u', tools: [{}] })).toEqual({
      model: 'm',
      messages: [],
    });
    expect(requestForBus('completion', { model: 'm', prompt: 'p', messages: [] })).toEqual({ model: 'm', prompt: 'p' });
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
