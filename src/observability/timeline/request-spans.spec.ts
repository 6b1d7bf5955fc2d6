import { describe, expect, it } from 'vitest';
import type { FinishedSpan } from '@threadline/tracing';
import { RequestSpans } from './request-spans.js';

const TRACE = 'a'.repeat(32);
const ID = 'req-1';

/** A span of request `ID` in trace `TRACE`, with only the fields every span has, unless `more` adds some. */
function span(more: Partial<FinishedSpan> = {}): FinishedSpan {
  return {
    traceId: TRACE,
    spanId: '1'.repeat(16),
    name: 'work',
    kind: 'internal',
    startTime: 1_796_398_273_868.8494,
    endTime: 1_796_398_273_879.261,
    attributes: { x_request_id: ID },
    events: [],
    status: 'unset',
    requestId: ID,
    ...more,
  };
}

function packed(...spans: FinishedSpan[]): RequestSpans {
  const entry = new RequestSpans(ID, TRACE);
  for (const each of spans) entry.add(each);
  return entry;
}

describe('RequestSpans', () => {
  it('gives back a span with only the fields every span has, and no others', () => {
    const plain = span();
    expect(packed(plain).spans).toStrictEqual([plain]);
  });

  it('gives back every optional field, attributes of each type in their order, and events with their times', () => {
    const full = span({
      spanId: '2'.repeat(16),
      name: 'gen_ai.generate',
      kind: 'server',
      parentSpanId: '3'.repeat(16),
      parentIsRemote: true,
      traceState: 'vendor=value',
      status: 'error',
      statusMessage: 'The worker went away.',
      sampled: false,
      attributes: { 'gen_ai.request.model': 'm', x_request_id: ID, 'threadline.ttft_ms': 7.4, 'cache.hit': true, n: 3 },
      events: [
        { name: 'gen_ai.first_token', time: 1_796_398_273_870.5 },
        { name: 'threadline.migrated', time: 1_796_398_273_871.25, attributes: { from: 'worker-0', tokens: 12 } },
      ],
    });
    expect(packed(full).spans).toStrictEqual([full]);
  });

  it('gives back several spans in the order they ended, each with its own attributes and events', () => {
    const spans = [
      span({ name: 'one', attributes: { x_request_id: ID, a: 1 } }),
      span({ name: 'two', events: [{ name: 'e', time: 5.5 }], parentSpanId: '4'.repeat(16) }),
      span({ name: 'three', attributes: {}, startTime: 10, endTime: 20.125 }),
    ];
    const entry = packed(...spans);
    expect(entry.count).toBe(3);
    expect(entry.spans).toStrictEqual(spans);
  });

  it('unpacks afresh at each read: a change to a span read does not reach the next read', () => {
    const entry = packed(span({ events: [{ name: 'e', time: 1, attributes: { k: 'v' } }] }));
    const first = entry.spans[0]!;
    first.attributes.x_request_id = 'changed';
    first.events[0]!.attributes!.k = 'changed';
    expect(entry.spans[0]!.attributes.x_request_id).toBe(ID);
    expect(entry.spans[0]!.events[0]!.attributes!.k).toBe('v');
  });
});
