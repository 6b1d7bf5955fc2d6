import { Controller, Get, Query, Sse } from '@nestjs/common';
import type { MessageEvent } from '@nestjs/common';
import { from, map, Observable } from 'rxjs';
import { RequestId, RequestIdService } from '../tracing/index.js';
import { TickerService } from './ticker.service.js';

@Controller()
export class DemoController {
  constructor(
    private readonly requestIds: RequestIdService,
    private readonly ticker: TickerService,
  ) {}

  @Get('health')
  health(): { status: string } {
    return { status: 'ok' };
  }

  /** The id the service uses for this request, as the header says it, the service and a parameter. */
  @Get('request-id')
  echo(@RequestId() fromParam: string): { requestId: string | undefined; fromParam: string; note: string } {
    return { requestId: this.requestIds.id, fromParam, note: this.ticker.describe() };
  }

  /** Server-sent events: `count` ticks (at most 100), each carrying the id it was produced under. */
  @Sse('ticks')
  ticks(@Query('count') count = '5', @Query('intervalMs') intervalMs = '200'): Observable<MessageEvent> {
    const ticks = this.ticker.ticks(clamp(count, 1, 100, 5), clamp(intervalMs, 0, 5000, 200));
    return from(ticks).pipe(map((data) => ({ data })));
  }
}

function clamp(value: string, min: number, max: number, fallback: number): number {
  const n = Number.parseInt(value, 10);
  return Number.isNaN(n) ? fallback : Math.min(max, Math.max(min, n));
}
