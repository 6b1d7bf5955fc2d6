import { describe, expect, it } from 'vitest';
import { SpanNames } from './span-names.js';

describe('SpanNames', () => {
  it('joins the two parts with its separator, the same again when asked again', () => {
    const names = new SpanNames('.');
    expect(names.of('processor', 'generate')).toBe('processor.generate');
    expect(names.of('processor', 'generate')).toBe('processor.generate');
    expect(names.of('router', 'route')).toBe('router.route');
    expect(new SpanNames(' ').of('POST', '/v1/chat/completions')).toBe('POST /v1/chat/completions');
  });

  it('still joins every pair once it keeps no more of them', () => {
    const names = new SpanNames('.');
    for (let i = 0; i < 3000; i++) expect(names.of(`c${i % 7}`, `e${i}`)).toBe(`c${i % 7}.e${i}`);
    expect(names.of('c1', 'e1')).toBe('c1.e1');
  });
});
