import { Logger } from '@nestjs/common';
import { envWholeNumber } from './config/env-number.js';

/**
 * For tests only, and only when `THREADLINE_TEST_STALL_MS` is set: SIGUSR2 blocks the event loop for
 * that long, as a long synchronous task would, so a test can see what a stalled process does after.
 */
export function installTestStall(env: NodeJS.ProcessEnv = process.env): void {
  if (env.THREADLINE_TEST_STALL_MS === undefined) return;
  const ms = envWholeNumber(env, 'THREADLINE_TEST_STALL_MS', 0, 1, 3_600_000);
  const logger = new Logger('TestStall');
  process.on('SIGUSR2', () => {
    logger.warn(`stalling the event loop for ${ms} ms`);
    const until = Date.now() + ms;
    while (Date.now() < until) {
      // Busy on purpose: nothing else in this process runs meanwhile.
    }
    logger.warn('stall over');
  });
}
