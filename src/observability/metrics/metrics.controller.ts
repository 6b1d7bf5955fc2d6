import { Controller, Get, Headers, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { MetricsService } from './metrics.service.js';
import { wantsOpenMetrics } from './exposition.js';

/** `GET /metrics` on the service's own HTTP server: Prometheus text, or OpenMetrics when the scraper asks for it. */
@Controller()
export class MetricsController {
  constructor(private readonly metrics: MetricsService) {}

  @Get('metrics')
  async scrape(@Headers('accept') accept: string | undefined, @Res() reply: FastifyReply): Promise<void> {
    const { contentType, body } = await this.metrics.render(wantsOpenMetrics(accept));
    void reply.header('content-type', contentType).send(body);
  }
}
