import { parseBoolean, resolveTracingOptions, tracingOptionsFromEnv } from '../tracing/index.js';
import { ConfigError } from './config.error.js';
import type { ResolvedTracingOptions } from '../tracing/index.js';

/** Everything the service reads from its environment, checked once at start-up. */
export interface AppConfig {
  port: number;
  host: string;
  /** Fastify's "incoming request" / "request completed" lines (`LOG_REQUESTS`). */
  requestLogging: boolean;
  /** The largest request body accepted, in bytes (`MAX_BODY_BYTES`); larger ones get a 413. */
  bodyLimit: number;
  tracing: ResolvedTracingOptions;
}

/** Reads and checks the configuration; a bad value throws an error that names the variable. */
export function loadAppConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  return {
    port: parsePort(env.PORT ?? '8080'),
    host: env.HOST ?? '127.0.0.1',
    requestLogging: env.LOG_REQUESTS === undefined ? true : parseBoolean('LOG_REQUESTS', env.LOG_REQUESTS),
    bodyLimit: parseBodyLimit(env.MAX_BODY_BYTES ?? String(4 * 1024 * 1024)),
    tracing: resolveTracingOptions(tracingOptionsFromEnv(env)),
  };
}

function parsePort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65535) {
    throw new ConfigError('PORT', `must be a port number from 0 to 65535, got ${JSON.stringify(value)}`);
  }
  return port;
}

function parseBodyLimit(value: string): number {
  const bytes = Number(value);
  if (!/^\d+$/.test(value) || bytes < 1024 || bytes > 1024 ** 3) {
    throw new ConfigError('MAX_BODY_BYTES', `must be a whole number of bytes from 1024 to 1073741824, got ${JSON.stringify(value)}`);
  }
  return bytes;
}
