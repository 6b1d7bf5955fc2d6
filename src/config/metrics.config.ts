import { ConfigError } from './config.error.js';

/**
 * `METRICS_PORT`: a port of its own where the process serves its Prometheus metrics, for a process
 * that runs no HTTP server (a NATS worker, say); `0` takes any free port. Unset: none.
 */
export function loadMetricsPort(env: NodeJS.ProcessEnv): number | undefined {
  const value = env.METRICS_PORT;
  if (value === undefined) return undefined;
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65535) {
    throw new ConfigError('METRICS_PORT', `must be a port number from 0 to 65535, got ${JSON.stringify(value)}`);
  }
  return port;
}
