import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createStore } from '../request-context.js';
import { startSpan } from './span-context.js';
import { endSpanWithIterator, unwrapSpanEnding } from './span-iterator.js';
import { addSpanRecorder } from './span-recorders.js';
import type { FinishedSpan } from './span-types.js';

let spans: FinishedSpan[] = [];
let remove: () => void = () => undefined;

beforeEach(() => {
  spans = [];
  remove = addSpanRecorder({ onEnd: (span) => spans.push(span) });
});
afterEach(() => remove());

async function* numbers(fail?: Error): AsyncGenerator<number> {
  yield 1;
  yield 2;
  if (fail) throw fail;
}

function traced(source: AsyncGenerator<number>) {
  const span = startSpan('stream', 'client', undefined, createStore('req'))!;
  return endSpanWithIterator(source, span, { onItem: (item, itemSpan) => void itemSpan.setAttribute('last', item) });
}

describe('endSpanWithIterator', () => {
  it('ends the span when the stream ends, having shown it every item', async () => {
    const items: number[] = [];
    for await (const item of traced(numbers())) items.push(item);
    expect(items).toEqual([1, 2]);
    expect(spans).toHaveLength(1);
    expect(spans[0]).toMatchObject({ status: 'unset', attributes: { last: 2 } });
  });

  it('ends it failed when the stream fails', async () => {
    await expect(async () => {
      for await (const item of traced(numbers(new Error('broke')))) void item;
    }).rejects.toThrow('broke');
    expect(spans[0]).toMatchObject({ status: 'error', statusMessage: 'broke', attributes: { 'error.type': 'Error' } });
  });

  it('ends it cancelled when the consumer stops early, and stops the source', async () => {
    const source = numbers();
    for await (const item of traced(source)) if (item === 1) break;
    expect(spans[0]).toMatchObject({ status: 'unset', attributes: { 'threadline.cancelled': true } });
    expect(await source.next()).toEqual({ done: true, value: undefined });
  });

  it('lets the observer write what it counted before the span ends, however the iteration ends', async () => {
    const counted = (source: AsyncGenerator<number>) => {
      let count = 0;
      const span = startSpan('counted', 'internal', undefined, createStore('req'))!;
      return endSpanWithIterator(source, span, {
        onItem: () => void count++,
        onIterationEnd: (ended) => void ended.setAttribute('count', count),
      });
    };
    for await (const item of counted(numbers())) void item;
    await expect(async () => {
      for await (const item of counted(numbers(new Error('broke')))) void item;
    }).rejects.toThrow('broke');
    for await (const item of counted(numbers())) if (item === 1) break;
    expect(spans.map((span) => [span.status, span.attributes.count])).toEqual([
      ['unset', 2],
      ['error', 2],
      ['unset', 1],
    ]);
  });

  describe('around an iterator it returned', () => {
    function twice(source: AsyncGenerator<number>) {
      const store = createStore('req');
      const inner = endSpanWithIterator(source, startSpan('inner', 'internal', undefined, store)!, {
        onItem: (item, span) => void span.setAttribute('last', item),
      });
      const outer = endSpanWithIterator(inner, startSpan('outer', 'client', undefined, store)!, {
        onItem: (item, span) => void span.setAttribute('seen', item),
      });
      return { inner, outer };
    }

    it('adds no layer: the same iterator ends both spans, innermost first', async () => {
      const { inner, outer } = twice(numbers());
      expect(outer).toBe(inner);
      for await (const item of outer) void item;
      expect(spans.map((span) => [span.name, span.attributes.last ?? span.attributes.seen])).toEqual([
        ['inner', 2],
        ['outer', 2],
      ]);
    });

    it('fails both with the error, and cancels both (outermost first) when the consumer stops', async () => {
      await expect(async () => {
        for await (const item of twice(numbers(new Error('broke'))).outer) void item;
      }).rejects.toThrow('broke');
      expect(spans.map((span) => [span.name, span.statusMessage])).toEqual([
        ['inner', 'broke'],
        ['outer', 'broke'],
      ]);
      spans = [];
      for await (const item of twice(numbers()).outer) if (item === 1) break;
      expect(spans.map((span) => [span.name, span.attributes['threadline.cancelled']])).toEqual([
        ['outer', true],
        ['inner', true],
      ]);
    });

    it('wraps anew once the iteration is over', async () => {
      const { outer } = twice(numbers());
      for await (const item of outer) void item;
      const late = endSpanWithIterator(outer, startSpan('late', 'client', undefined, createStore('req'))!);
      expect(late).not.toBe(outer);
      expect(await late.next()).toEqual({ done: true, value: undefined });
      expect(spans.map((span) => span.name)).toEqual(['inner', 'outer', 'late']);
    });
  });

  describe('unwrapSpanEnding', () => {
    it('hands an unread wrapper’s source and spans over, once; the taker ends them as the wrapper would', async () => {
      const source = numbers();
      const wrapper = traced(source);
      const taken = unwrapSpanEnding(wrapper)!;
      expect(taken.source).toBe(source);
      expect(unwrapSpanEnding(wrapper)).toBeUndefined();
      for (let step = await taken.source.next(); !step.done; step = await taken.source.next())
        taken.spans.item(step.value);
      taken.spans.done();
      expect(spans).toHaveLength(1);
      expect(spans[0]).toMatchObject({ name: 'stream', status: 'unset', attributes: { last: 2 } });
    });

    it('leaves a wrapper that was read, and any other iterator', async () => {
      const wrapper = traced(numbers());
      await wrapper.next();
      expect(unwrapSpanEnding(wrapper)).toBeUndefined();
      expect(unwrapSpanEnding(numbers())).toBeUndefined();
    });
  });
});
