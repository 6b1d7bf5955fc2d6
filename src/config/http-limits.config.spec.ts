import { describe, expect, it } from 'vitest';
import { loadAppConfig } from './app.config.js';

describe('the HTTP limits in the configuration', () => {
  it('default to a 30 s request timeout, 2048 connections and 16 MiB of buffered bodies', () => {
    expect(loadAppConfig({}).httpLimits).toEqual({
      requestTimeoutMs: 30_000,
      maxConnections: 2048,
      maxBufferedBodyBytes: 16 * 1024 * 1024,
    });
  });

  it('are read from REQUEST_BODY_TIMEOUT_MS, MAX_CONNECTIONS and MAX_BUFFERED_BODY_BYTES', () => {
    const env = { REQUEST_BODY_TIMEOUT_MS: '500', MAX_CONNECTIONS: '16', MAX_BUFFERED_BODY_BYTES: '8388608' };
    expect(loadAppConfig(env).httpLimits).toEqual({
      requestTimeoutMs: 500,
      maxConnections: 16,
      maxBufferedBodyBytes: 8_388_608,
    });
  });

  for (const [variable, value] of [
    ['REQUEST_BODY_TIMEOUT_MS', '0'],
    ['REQUEST_BODY_TIMEOUT_MS', '30s'],
    ['MAX_CONNECTIONS', '0'],
    ['MAX_CONNECTIONS', '-5'],
    ['MAX_BUFFERED_BODY_BYTES', '1.5'],
  ] as const) {
    it(`stop start-up with a message naming ${variable} when it is ${JSON.stringify(value)}`, () => {
      expect(() => loadAppConfig({ [variable]: value })).toThrow(
        new RegExp(`^Invalid configuration: ${variable} must be a whole number`),
      );
    });
  }

  it('take MAX_BODY_BYTES as MAX_BUFFERED_BODY_BYTES when that is unset and the body limit passes its default', () => {
    const big = String(64 * 1024 * 1024);
    expect(loadAppConfig({ MAX_BODY_BYTES: big }).httpLimits.maxBufferedBodyBytes).toBe(64 * 1024 * 1024);
    expect(loadAppConfig({ MAX_BODY_BYTES: '1048576' }).httpLimits.maxBufferedBodyBytes).toBe(16 * 1024 * 1024);
    // Set below the body limit, it names both values, the one given quoted.
    expect(() => loadAppConfig({ MAX_BODY_BYTES: big, MAX_BUFFERED_BODY_BYTES: '20000000' })).toThrow(
      `Invalid configuration: MAX_BUFFERED_BODY_BYTES must be at least MAX_BODY_BYTES (${big}), got "20000000"`,
    );
  });

  it('stop start-up when MAX_BUFFERED_BODY_BYTES could not hold one body of MAX_BODY_BYTES', () => {
    expect(() => loadAppConfig({ MAX_BODY_BYTES: '4194304', MAX_BUFFERED_BODY_BYTES: '1048576' })).toThrow(
      'Invalid configuration: MAX_BUFFERED_BODY_BYTES must be at least MAX_BODY_BYTES (4194304), got "1048576"',
    );
  });
});
