import { ConfigError } from './config.error.js';
import { envWholeNumber } from './env-number.js';

/** The HTTP server's limits at the door: how long a request may take to arrive, and how much it may hold at once. */
export interface HttpLimits {
  /** How long a request's head and body may take to arrive, in ms (`REQUEST_BODY_TIMEOUT_MS`); then a 408. */
  requestTimeoutMs: number;
  /** Connections open at once (`MAX_CONNECTIONS`); a connection beyond is closed as it arrives. */
  maxConnections: number;
  /** Request body bytes held at once, across requests (`MAX_BUFFERED_BODY_BYTES`); a body beyond gets a 503. */
  maxBufferedBodyBytes: number;
}

/**
 * Four bodies of the default MAX_BODY_BYTES: one event loop parses them, and more held at once only makes
 * each wait longer (bench:hostile's large-bodies case measures it).
 */
const DEFAULT_MAX_BUFFERED_BODY_BYTES = 16 * 1024 * 1024;

/** Reads and checks the limits; `bodyLimit` is `MAX_BODY_BYTES`, which the buffer must hold at least once. */
export function loadHttpLimits(env: NodeJS.ProcessEnv, bodyLimit: number): HttpLimits {
  // Unset, it holds one largest body at least: a MAX_BODY_BYTES above the default needs nothing more.
  const maxBufferedBodyBytes = envWholeNumber(
    env,
    'MAX_BUFFERED_BODY_BYTES',
    Math.max(DEFAULT_MAX_BUFFERED_BODY_BYTES, bodyLimit),
    1024,
    2 ** 40,
  );
  if (maxBufferedBodyBytes < bodyLimit) {
    // A body no other request competes with must always fit, or its 503 would be retried for ever.
    throw new ConfigError(
      'MAX_BUFFERED_BODY_BYTES',
      `must be at least MAX_BODY_BYTES (${bodyLimit}), got ${JSON.stringify(String(maxBufferedBodyBytes))}`,
    );
  }
  return {
    requestTimeoutMs: envWholeNumber(env, 'REQUEST_BODY_TIMEOUT_MS', 30_000, 100, 3_600_000),
    maxConnections: envWholeNumber(env, 'MAX_CONNECTIONS', 2048, 1, 1_000_000),
    maxBufferedBodyBytes,
  };
}
