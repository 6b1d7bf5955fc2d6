import { describe, expect, it } from 'vitest';
import { requestExemplar } from './request-exemplar.js';

const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

/** The characters an exemplar's label set counts against OpenMetrics's limit. */
const size = (labels: Record<string, string>) =>
  Object.entries(labels).reduce((n, [k, v]) => n + k.length + v.length, 0);

describe('requestExemplar', () => {
  it('carries the request id, and the trace id when the request has a trace', () => {
    expect(requestExemplar('req-1', undefined)).toEqual({ request_id: 'req-1' });
    expect(requestExemplar('req-1', TRACEPARENT)).toEqual({
      request_id: 'req-1',
      trace_id: '4bf92f3577b34da6a3ce929d0e0e4736',
    });
  });

  it('cuts a request id too long for the 128 characters OpenMetrics allows, keeping the trace id whole', () => {
    const long = 'x'.repeat(1024);
    const alone = requestExemplar(long, undefined);
    expect(size(alone)).toBe(128);
    expect(alone.request_id).toBe('x'.repeat(118));
    const traced = requestExemplar(long, TRACEPARENT);
    expect(size(traced)).toBe(128);
    expect(traced.trace_id).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
  });
});
