import { describe, expect, it } from 'vitest';
import { newSpanId, newTraceId } from './span-ids.js';

describe('span ids', () => {
  it('are lower-case hex of W3C length, never all zeros, and differ from one call to the next', () => {
    const traces = new Set<string>();
    const spans = new Set<string>();
    // Enough ids to refill the pool a few times.
    for (let i = 0; i < 1000; i++) {
      const traceId = newTraceId();
      const spanId = newSpanId();
      expect(traceId).toMatch(/^(?!0{32})[0-9a-f]{32}$/);
      expect(spanId).toMatch(/^(?!0{16})[0-9a-f]{16}$/);
      traces.add(traceId);
      spans.add(spanId);
    }
    expect(traces.size).toBe(1000);
    expect(spans.size).toBe(1000);
  });
});
