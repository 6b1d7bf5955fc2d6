import type { FastifyInstance } from 'fastify';
import type { HttpLimits } from '../config/http-limits.config.js';
import { installBodyBudget } from './body-budget.hook.js';
import { BufferedBodyBudget } from './buffered-body-budget.js';

/**
 * The FastifyAdapter options for Node's request deadline: a request whose head and body have not both
 * arrived in time is refused by Node with a 408 (answered with an id and a body by @threadline/tracing)
 * and its connection closed. Node looks for late requests on a period and cuts one at the first look
 * past its deadline, so the deadline is set a period early: no request holds its connection longer than
 * `requestTimeoutMs`, and a server held by slow clients is free again within it.
 */
export function requestTimeoutOptions({ requestTimeoutMs }: HttpLimits) {
  // A hundredth of the timeout, from 10 ms to a second: a look costs Node a pass over its connections.
  const period = Math.max(10, Math.min(1000, Math.floor(requestTimeoutMs / 100)));
  const deadline = requestTimeoutMs - period;
  return {
    requestTimeout: deadline,
    http: {
      // Node swaps the two deadlines when the head's is the longer, which would give the body 60 s.
      headersTimeout: Math.min(deadline, 60_000),
      connectionsCheckingInterval: period,
    },
  };
}

/**
 * Where the Frontend listens, with a queue of connections not yet accepted as long as MAX_CONNECTIONS
 * (the kernel caps it at net.core.somaxconn). Node's default, 511, makes the kernel drop the connections
 * of a larger burst, and their clients try again only after a second, then three, then seven: under a
 * flood of new clients, a health check would wait on that rather than on the server.
 */
export function listenOptions(
  port: number,
  host: string,
  { maxConnections }: HttpLimits,
): { port: number; host: string; backlog: number } {
  return { port, host, backlog: maxConnections };
}

/**
 * The limits on what the server holds at once: connections beyond the cap are closed as they arrive
 * (their file descriptors stay free for the rest), and request bodies are held to their budget, a
 * body beyond it answered with a 503 and `Retry-After: retryAfterSeconds`. Call before the routes are
 * registered.
 */
export function applyHttpLimits(fastify: FastifyInstance, limits: HttpLimits, retryAfterSeconds: number): void {
  fastify.server.maxConnections = limits.maxConnections;
  installBodyBudget(
    fastify,
    new BufferedBodyBudget(limits.maxBufferedBodyBytes),
    retryAfterSeconds,
    limits.maxConnections,
  );
}
