import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import type { Resource } from '@opentelemetry/resources';
import { describe, expect, it } from 'vitest';
import type { FinishedSpan } from '../spans/span-types.js';
import { encodeExportTraceRequest } from './otlp-protobuf-request.js';
import { INSTRUMENTATION_SCOPE, toReadableSpan } from './readable-span.js';

const REQUEST_ID = 'd34f2516-561b-4d3e-8c29-49767099482e';
const TRACE_ID = 'a48944bf84263ada826f5a46b9b51f74';

function span(overrides: Partial<FinishedSpan>): FinishedSpan {
  return {
    traceId: TRACE_ID,
    spanId: 'e9d3f8150540eba1',
    name: 'router.route',
    kind: 'server',
    startTime: 1796123052648.944,
    endTime: 1796123052649.774,
    attributes: { x_request_id: REQUEST_ID },
    events: [],
    status: 'unset',
    requestId: REQUEST_ID,
    ...overrides,
  };
}

/** What the SDK's own serializer writes for the same spans. */
function sdkBytes(spans: FinishedSpan[], resource: Resource): Buffer {
  return Buffer.from(ProtobufTraceSerializer.serializeRequest(spans.map((s) => toReadableSpan(s, resource)))!);
}

function ownBytes(spans: FinishedSpan[], resource: Resource): Buffer {
  return Buffer.from(encodeExportTraceRequest(spans, resource, INSTRUMENTATION_SCOPE)!);
}

describe('encodeExportTraceRequest', () => {
  const resource = defaultResource().merge(resourceFromAttributes({ 'service.name': 'frontend-ü' }));

  it('writes the bytes the SDK serializer writes, for every kind of span Threadline makes', () => {
    const spans = [
      // A request's first span, without a parent.
      span({
        name: 'POST /v1/completions',
        attributes: { x_request_id: REQUEST_ID, 'http.request.method': 'POST', 'http.response.status_code': 200 },
      }),
      span({ kind: 'client', parentSpanId: '8733c2b3f6e19b98', endTime: 1796123052650.0002 }),
      // A request's first span under its caller's traceparent: the parent is remote (flags 0x301).
      span({ kind: 'server', parentSpanId: 'b7ad6b7169203331', parentIsRemote: true }),
      // And with the caller's tracestate, which every span of the request here carries.
      span({
        parentSpanId: 'b7ad6b7169203331',
        parentIsRemote: true,
        traceState: 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7',
      }),
      span({ kind: 'client', parentSpanId: '8733c2b3f6e19b98', traceState: 'congo=t61rcWkgMzE' }),
      // Events with and without attributes; every kind of number.
      span({
        kind: 'internal',
        parentSpanId: 'f18d113ce568bb08',
        attributes: {
          x_request_id: REQUEST_ID,
          small: 127,
          varint2: 128,
          int32: 2 ** 31,
          above32: 2 ** 32 + 5,
          huge: 2 ** 60,
          negative: -1,
          negative64: -(2 ** 40) - 3,
          fraction: 0.5,
          negativeFraction: -1.25,
          infinite: Number.POSITIVE_INFINITY,
          beyondInt64: 2 ** 64,
          yes: true,
          no: false,
          empty: '',
        },
        events: [
          { name: 'gen_ai.first_token', time: 1796123052654.4263 },
          { name: 'threadline.migrated', time: 1796123052655 + 0.9999999, attributes: { to: 'worker-2', tokens: 12 } },
        ],
      }),
      // A failure with a message outside ASCII; text of every UTF-8 length.
      span({
        status: 'error',
        statusMessage: 'upstream said: ошибка 🚫',
        attributes: { x_request_id: REQUEST_ID, 'error.type': 'UpstreamError', 'clé 漢字': 'valeur 😀' },
      }),
      // Lengths that need two and three bytes.
      span({ attributes: { x_request_id: REQUEST_ID, long: 'x'.repeat(300), longer: 'y'.repeat(20_000) } }),
      // Times on a second's edge, before 1970's 2^32 seconds and after.
      span({ startTime: 1796123052999 + 0.9999999, endTime: 1796123053000 }),
      span({ startTime: 0.000001, endTime: 4_294_967_296_000.5 }),
    ];
    expect(ownBytes(spans, resource).equals(sdkBytes(spans, resource))).toBe(true);
  });

  it('puts the request id back on a span whose x_request_id was changed or removed, as the SDK is given it', () => {
    const changed = span({ attributes: { x_request_id: 'something-else', after: 1 } });
    const removed = span({ attributes: { before: 'a' } });
    const spans = [changed, removed];
    expect(ownBytes(spans, resource).equals(sdkBytes(spans, resource))).toBe(true);
    expect(ownBytes(spans, resource).includes(Buffer.from(REQUEST_ID))).toBe(true);
    expect(ownBytes(spans, resource).includes(Buffer.from('something-else'))).toBe(false);
  });

  it('writes a batch of many spans as the SDK does', () => {
    const spans = Array.from({ length: 600 }, (_, i) =>
      span({ spanId: i.toString(16).padStart(16, '0'), attributes: { x_request_id: REQUEST_ID, i } }),
    );
    expect(ownBytes(spans, resource).equals(sdkBytes(spans, resource))).toBe(true);
  });

  it('reads ids in upper-case hex as the SDK does', () => {
    const spans = [
      span({ traceId: TRACE_ID.toUpperCase(), spanId: 'E9D3F8150540EBA1', parentSpanId: '8733C2B3F6E19B98' }),
    ];
    expect(ownBytes(spans, resource).equals(sdkBytes(spans, resource))).toBe(true);
  });

  it('writes every length in as few bytes as it takes, whatever room was first left for it', () => {
    // A small span (its message under 128 bytes), texts whose UTF-8 is longer than their characters
    // across the one-byte edge, an event whose attributes pass 127 bytes, ASCII of 127 and 128 bytes.
    const tiny = span({ name: 'a', requestId: 'r', attributes: { x_request_id: 'r' } });
    const wide = span({
      attributes: {
        x_request_id: REQUEST_ID,
        ['é'.repeat(70)]: 'ü'.repeat(100),
        a127: 'a'.repeat(127),
        a128: 'b'.repeat(128),
      },
      events: [{ name: 'e', time: 1796123052654.4263, attributes: { text: 'z'.repeat(200) } }],
    });
    for (const spans of [[tiny], [tiny, wide], [wide]]) {
      expect(ownBytes(spans, resource).equals(sdkBytes(spans, resource))).toBe(true);
    }
  });

  it('writes the same bytes again from what it kept of earlier requests, and once what it keeps was emptied', () => {
    // More distinct attributes, keys of numbers, names and trace ids than it keeps, each span in two
    // requests; trace ids interleaved as the spans of concurrent requests are in a batch.
    const spans = Array.from({ length: 3000 }, (_, i) =>
      span({
        traceId: i % 2 === 0 ? TRACE_ID : `${TRACE_ID.slice(0, 28)}${String(i % 2600).padStart(4, '0')}`,
        name: `component-${i % 50}.endpoint`,
        attributes: {
          x_request_id: `request-${i}`,
          'rpc.service': `component-${i % 50}`,
          'http.response.status_code': i,
          [`ratio-${i % 2600}`]: i / 7,
          [`flag-${i % 3}`]: i % 2 === 0,
        },
        events: i % 3 === 0 ? [{ name: `event-${i % 40}`, time: 1796123052654.4263 + i }] : [],
      }),
    );
    for (const round of [1, 2]) {
      for (let start = 0; start < spans.length; start += 500) {
        const batch = spans.slice(start, start + 500);
        expect(ownBytes(batch, resource).equals(sdkBytes(batch, resource)), `round ${round}, spans from ${start}`).toBe(
          true,
        );
      }
    }
  });

  it('declines a value no Threadline span holds, for the SDK serializer to write', () => {
    const odd = span({ attributes: { x_request_id: REQUEST_ID, list: ['a', 'b'] as unknown as string } });
    expect(encodeExportTraceRequest([odd], resource, INSTRUMENTATION_SCOPE)).toBeUndefined();
  });
});
