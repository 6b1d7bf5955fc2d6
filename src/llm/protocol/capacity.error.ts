import { ExpectedRefusal } from './expected-refusal.error.js';

/**
 * The service cannot take the request now, though nothing is wrong with it: a queue is full (429) or
 * nothing can serve it (503). An expected refusal, not a fault (`expected`): it is logged once, as a
 * warning, by the Frontend, which answers it with `Retry-After`.
 */
export class CapacityError extends ExpectedRefusal {
  constructor(
    message: string,
    readonly status: 429 | 503,
    readonly code: string,
    /** The `Retry-After` to answer with, when this refusal knows it (an upstream said so); else the configured one. */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'CapacityError';
  }
}

/** OpenAI's code for a 429, which its clients and dashboards know. */
export const RATE_LIMIT_CODE = 'rate_limit_exceeded';
