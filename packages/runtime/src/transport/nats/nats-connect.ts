import { Logger } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { withoutCredentials } from '@threadline/tracing/internal';

const logger = new Logger('Runtime');

/**
 * Runs `connect` until it succeeds, waiting 0.5 s, 1 s, 2 s … (at most 15 s) between tries, and logs
 * each failure with the NATS URL (without the credentials it may hold), so that a service started
 * before its NATS server waits for it with a clear message instead of crashing.
 */
export async function connectWithRetry<T>(
  url: string,
  what: string,
  connect: () => Promise<T>,
  signal?: AbortSignal,
): Promise<T> {
  let delayMs = 500;
  const shownUrl = withoutCredentials(url);
  for (;;) {
    try {
      return await connect();
    } catch (error) {
      signal?.throwIfAborted();
      const reason = error instanceof Error ? error.message : String(error);
      logger.error({
        msg: `cannot reach NATS at ${shownUrl} (${what}): ${reason}; retrying in ${delayMs / 1000} s`,
        natsUrl: shownUrl,
      });
      await sleep(delayMs, undefined, { signal });
      delayMs = Math.min(delayMs * 2, 15_000);
    }
  }
}
