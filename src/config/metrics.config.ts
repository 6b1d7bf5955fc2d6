import { envPort } from './env-number.js';

/**
 * `METRICS_PORT`: a port of its own where the process serves its Prometheus metrics, for a process
 * that runs no HTTP server (a NATS worker, say); `0` takes any free port. Unset: none.
 */
export function loadMetricsPort(env: NodeJS.ProcessEnv): number | undefined {
  return envPort(env, 'METRICS_PORT', undefined);
}
