import { describe, expect, it } from 'vitest';
import type { FinishedSpan } from '@threadline/tracing';
import { MAX_SPANS_PER_REQUEST, RequestRing } from './request-ring.js';

function span(requestId: string, name = 'work', traceId = '0'.repeat(32)): FinishedSpan {
  return {
    traceId,
    spanId: '1'.repeat(16),
    name,
    kind: 'internal',
    startTime: 0,
    endTime: 1,
    attributes: { x_request_id: requestId },
    events: [],
    status: 'unset',
    requestId,
  };
}

function heldSpans(ring: RequestRing): number {
  let count = 0;
  for (const { spans } of ring.newestFirst()) count += spans.length;
  return count;
}

/** The spans the ring holds of request id `id`, every request of that id. */
function spansOf(ring: RequestRing, id: string): FinishedSpan[] {
  return ring.entriesOf(id).flatMap((entry) => entry.spans);
}

describe('RequestRing', () => {
  it('groups spans by request id, newest request first', () => {
    const ring = new RequestRing(10);
    ring.onEnd(span('a', 'one'));
    ring.onEnd(span('b'));
    ring.onEnd(span('a', 'two'));
    expect(spansOf(ring, 'a').map((s) => s.name)).toEqual(['one', 'two']);
    expect([...ring.newestFirst()].map(({ id }) => id)).toEqual(['b', 'a']);
    expect(spansOf(ring, 'nobody')).toEqual([]);
  });

  it('keeps two requests of one id apart, by their traces: a client reusing an id sees each request', () => {
    const ring = new RequestRing(3);
    const [first, second] = ['1'.repeat(32), '2'.repeat(32)];
    ring.onEnd(span('reused', 'first-a', first));
    ring.onEnd(span('reused', 'second-a', second));
    ring.onEnd(span('reused', 'first-b', first));
    expect(ring.entriesOf('reused').map(({ traceId, spans }) => [traceId, spans.map((s) => s.name)])).toEqual([
      [first, ['first-a', 'first-b']],
      [second, ['second-a']],
    ]);
    expect([...ring.newestFirst()].map(({ traceId }) => traceId)).toEqual([second, first]);
    // Two more requests push the older request of the id out, and only it.
    ring.onEnd(span('other-1'));
    ring.onEnd(span('other-2'));
    expect(ring.entriesOf('reused').map(({ traceId }) => traceId)).toEqual([second]);
    ring.onEnd(span('other-3'));
    expect(ring.entriesOf('reused')).toEqual([]);
    expect(ring.size).toBe(3);
  });

  it('finds each request of a trace that several share, and of traces of their own, while requests leave', () => {
    const ring = new RequestRing(3);
    const [shared, own, third] = ['5'.repeat(32), '6'.repeat(32), '7'.repeat(32)];
    ring.onEnd(span('a', 'a-1', shared));
    ring.onEnd(span('b', 'b-1', shared));
    ring.onEnd(span('c', 'c-1', own));
    ring.onEnd(span('a', 'a-2', shared));
    expect(spansOf(ring, 'a').map((s) => s.name)).toEqual(['a-1', 'a-2']);
    // d pushes a out; b, alone in the shared trace now, still takes its spans.
    ring.onEnd(span('d', 'd-1', third));
    ring.onEnd(span('b', 'b-2', shared));
    expect(spansOf(ring, 'a')).toEqual([]);
    expect(spansOf(ring, 'b').map((s) => s.name)).toEqual(['b-1', 'b-2']);
    // A new request of id a in the shared trace pushes b out and starts afresh.
    ring.onEnd(span('a', 'a-3', shared));
    ring.onEnd(span('e', 'e-1', shared));
    ring.onEnd(span('a', 'a-4', shared));
    expect(spansOf(ring, 'b')).toEqual([]);
    expect(spansOf(ring, 'a').map((s) => s.name)).toEqual(['a-3', 'a-4']);
    expect(spansOf(ring, 'e').map((s) => s.name)).toEqual(['e-1']);
    expect([...ring.newestFirst()].map(({ id }) => id)).toEqual(['e', 'a', 'd']);
  });

  it('evicts the oldest request whole once full', () => {
    const ring = new RequestRing(3);
    for (const id of ['r1', 'r2', 'r3', 'r4', 'r5']) {
      ring.onEnd(span(id));
      ring.onEnd(span(id));
    }
    expect([...ring.newestFirst()].map(({ id }) => id)).toEqual(['r5', 'r4', 'r3']);
    expect(spansOf(ring, 'r1')).toEqual([]);
    expect(spansOf(ring, 'r2')).toEqual([]);
    expect(spansOf(ring, 'r3')).toHaveLength(2);
  });

  it('holds a bounded count of requests and spans however many pass', () => {
    const ring = new RequestRing(100);
    for (let i = 0; i < 50_000; i++) for (let s = 0; s < 4; s++) ring.onEnd(span(`req-${i}`));
    expect(ring.size).toBe(100);
    expect(heldSpans(ring)).toBe(400);
    expect(spansOf(ring, 'req-49999')).toHaveLength(4);
    expect(spansOf(ring, 'req-49899')).toEqual([]);
  });

  it('caps the spans one request may hold', () => {
    const ring = new RequestRing(1);
    for (let i = 0; i < MAX_SPANS_PER_REQUEST * 3; i++) ring.onEnd(span('runaway'));
    expect(spansOf(ring, 'runaway')).toHaveLength(MAX_SPANS_PER_REQUEST);
  });

  it('refuses a capacity below one', () => {
    expect(() => new RequestRing(0)).toThrow(RangeError);
  });
});
