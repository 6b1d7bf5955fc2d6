import { afterEach, describe, expect, it } from 'vitest';
import { outboundTracingHeaders } from '../outbound-headers.js';
import { createStore, getCurrentTraceparent, runInStore } from '../request-context.js';
import { getCurrentSpan, setEntrySampler, startSpan, storeWithSpan } from './span-context.js';
import { addSpanRecorder } from './span-recorders.js';
import type { FinishedSpan } from './span-types.js';

const INCOMING = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

let removers: Array<() => void> = [];

function record(): FinishedSpan[] {
  const spans: FinishedSpan[] = [];
  removers.push(addSpanRecorder({ onEnd: (span) => spans.push(span) }));
  return spans;
}

afterEach(() => {
  removers.forEach((remove) => remove());
  removers = [];
});

describe('spans', () => {
  it("are not started while no recorder is registered, and the caller's traceparent goes on unchanged", () => {
    const store = createStore('req-1', undefined, INCOMING);
    runInStore(store, () => {
      expect(startSpan('GET /', 'server')).toBeUndefined();
      expect(getCurrentSpan()).toBeUndefined();
      expect(outboundTracingHeaders()).toEqual({ 'x-request-id': 'req-1', traceparent: INCOMING });
    });
  });

  it("continue the caller's trace, under its span, with the flags it sent", () => {
    const spans = record();
    const span = startSpan('GET /', 'server', { 'url.path': '/' }, createStore('req-2', undefined, INCOMING))!;
    expect(span.traceparent).toBe(`00-0af7651916cd43dd8448eb211c80319c-${span.spanId}-01`);
    span.end();
    expect(spans).toEqual([
      {
        traceId: '0af7651916cd43dd8448eb211c80319c',
        spanId: span.spanId,
        parentSpanId: 'b7ad6b7169203331',
        parentIsRemote: true,
        name: 'GET /',
        kind: 'server',
        startTime: span.startTime,
        endTime: expect.any(Number) as number,
        attributes: { x_request_id: 'req-2', 'url.path': '/' },
        events: [],
        status: 'unset',
        requestId: 'req-2',
      },
    ]);
    expect(spans[0]!.endTime).toBeGreaterThanOrEqual(spans[0]!.startTime);
    expect(spans[0]!.startTime).toBeGreaterThan(Date.now() - 60_000);
  });

  it('start a new trace, with no parent, when the caller sent no traceparent', () => {
    const spans = record();
    startSpan('GET /', 'server', undefined, createStore('req-3'))!.end();
    expect(spans[0]!.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(spans[0]).not.toHaveProperty('parentSpanId');
  });

  it('have the current span as parent, and it is the traceparent an outbound call sends', () => {
    const spans = record();
    const root = createStore('req-4', undefined, INCOMING);
    const server = startSpan('GET /', 'server', undefined, root)!;
    runInStore(storeWithSpan(root, server), () => {
      expect(getCurrentTraceparent()).toBe(server.traceparent);
      expect(outboundTracingHeaders().traceparent).toBe(server.traceparent);
      const child = startSpan('worker.generate', 'client')!;
      expect(getCurrentSpan()).toBe(server);
      child.end();
    });
    server.end();
    expect(spans.map((span) => [span.name, span.parentSpanId, span.parentIsRemote])).toEqual([
      ['worker.generate', server.spanId, undefined],
      ['GET /', 'b7ad6b7169203331', true],
    ]);
    expect(new Set(spans.map((span) => span.traceId)).size).toBe(1);
  });

  it('are handed over once, and ignore changes after they end; a throwing recorder stops no other', () => {
    removers.push(
      addSpanRecorder({
        onEnd: () => {
          throw new Error('recorder fault');
        },
      }),
    );
    const spans = record();
    const span = startSpan('work', 'internal', undefined, createStore('req-5'))!;
    span
      .setAttribute('n', 1)
      .addEvent('first', { at: 1 })
      .recordFailure(Object.assign(new Error('no'), { code: 'nope' }));
    span.end();
    span.setAttribute('n', 2).end();
    expect(spans).toHaveLength(1);
    expect(spans[0]).toMatchObject({
      attributes: { x_request_id: 'req-5', n: 1, 'error.type': 'nope' },
      events: [{ name: 'first', attributes: { at: 1 } }],
      status: 'error',
      statusMessage: 'no',
    });
  });

  it('stop being recorded once their recorder is removed', () => {
    const spans: FinishedSpan[] = [];
    const remove = addSpanRecorder({ onEnd: (span) => spans.push(span) });
    remove();
    expect(startSpan('work', 'internal', undefined, createStore('req-6'))).toBeUndefined();
    expect(spans).toEqual([]);
  });

  it('carry the entry sampler’s decision in their flags, to their children and the next hop', () => {
    const spans = record();
    const seen: Array<[string, string | undefined]> = [];
    removers.push(
      setEntrySampler((traceId, incoming) => {
        seen.push([traceId, incoming]);
        return incoming === undefined;
      }),
    );
    // A trace that starts here: sampled, as decided.
    const root = startSpan('GET /', 'server', {}, createStore('req-root'))!;
    expect(root.traceparent.endsWith('-01')).toBe(true);
    // A caller's sampled trace, not sampled here: the flag is cleared for the spans and what they pass on.
    const entry = startSpan('GET /', 'server', {}, createStore('req-in', undefined, INCOMING))!;
    const child = startSpan('work', 'internal', {}, storeWithSpan(createStore('req-in'), entry))!;
    expect(entry.traceparent.endsWith('-00')).toBe(true);
    expect(child.traceparent.endsWith('-00')).toBe(true);
    // Only a request's first span asks.
    expect(seen).toEqual([
      [root.traceId, undefined],
      ['0af7651916cd43dd8448eb211c80319c', INCOMING],
    ]);
    for (const span of [child, entry, root]) span.end();
    expect(spans.map((span) => span.sampled)).toEqual([false, false, undefined]);
  });

  it('read the sampled bit of any flags a caller sent, other bits set or not', () => {
    const spans = record();
    const flags = ['00', '01', '02', '03', '0a', '0b', 'fe', 'ff', '09', '08'];
    for (const [i, flag] of flags.entries()) {
      const traceparent = `00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-${flag}`;
      startSpan('GET /', 'server', undefined, createStore(`req-${i}`, undefined, traceparent))!.end();
    }
    expect(spans.map((span) => span.sampled ?? true)).toEqual([
      false,
      true,
      false,
      true,
      false,
      true,
      false,
      true,
      true,
      false,
    ]);
  });
});
