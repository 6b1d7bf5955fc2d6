import { describe, expect, it } from 'vitest';
import { listenOptions, requestTimeoutOptions } from './http-limits.js';

describe('requestTimeoutOptions', () => {
  const limits = (requestTimeoutMs: number) => ({
    requestTimeoutMs,
    maxConnections: 2048,
    maxBufferedBodyBytes: 2 ** 24,
  });

  it.each([100, 500, 20_000, 30_000, 600_000, 3_600_000])(
    'cuts a late request at the latest %i ms after it began, and not before 99 %% of that',
    (timeout) => {
      const { requestTimeout, http } = requestTimeoutOptions(limits(timeout));
      // Node cuts a request at its first look past the deadline: at most one period after it.
      expect(requestTimeout + http.connectionsCheckingInterval).toBeLessThanOrEqual(timeout);
      expect(requestTimeout).toBeGreaterThanOrEqual(Math.min(timeout * 0.99, timeout - 10));
      expect(http.headersTimeout).toBeLessThanOrEqual(requestTimeout);
      expect(http.connectionsCheckingInterval).toBeGreaterThanOrEqual(10);
      expect(http.connectionsCheckingInterval).toBeLessThanOrEqual(1000);
    },
  );

  it('gives the head at most a minute, as Node would otherwise give the body that long', () => {
    expect(requestTimeoutOptions(limits(600_000)).http.headersTimeout).toBe(60_000);
  });
});

describe('listenOptions', () => {
  it("queues as many connections not yet accepted as MAX_CONNECTIONS allows open, not Node's 511", () => {
    const limits = { requestTimeoutMs: 30_000, maxConnections: 2048, maxBufferedBodyBytes: 2 ** 24 };
    expect(listenOptions(8080, '0.0.0.0', limits)).toEqual({ port: 8080, host: '0.0.0.0', backlog: 2048 });
  });
});
