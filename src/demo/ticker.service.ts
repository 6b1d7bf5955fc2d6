import { Injectable, Logger } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { getCurrentRequestId, RequestId, Traced } from '../tracing/index.js';

/** Produces a short stream of ticks, each logged with the request id of whoever asked for it. */
@Injectable()
export class TickerService {
  private readonly logger = new Logger(TickerService.name);

  @Traced()
  async *ticks(count: number, intervalMs: number): AsyncGenerator<{ tick: number; requestId: string | undefined }> {
    for (let tick = 1; tick <= count; tick++) {
      await sleep(intervalMs);
      this.logger.log(`tick ${tick} of ${count}`);
      yield { tick, requestId: getCurrentRequestId() };
    }
  }

  @Traced()
  describe(@RequestId() requestId?: string): string {
    return `handled as request ${requestId}`;
  }
}
