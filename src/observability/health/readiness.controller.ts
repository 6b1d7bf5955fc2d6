import { Controller, Get, Res } from '@nestjs/common';
import { HealthCheck } from '@nestjs/terminus';
import type { HealthCheckResult } from '@nestjs/terminus';
import type { FastifyReply } from 'fastify';
import { ReadinessService } from './readiness.service.js';

/** `GET /ready` on the service's own HTTP server (`METRICS_PORT` answers it for a process without one). */
@Controller()
export class ReadinessController {
  constructor(private readonly readiness: ReadinessService) {}

  @Get('ready')
  @HealthCheck({ noCache: true, swaggerDocumentation: false })
  async ready(@Res({ passthrough: true }) reply: FastifyReply): Promise<HealthCheckResult> {
    // Answered here rather than thrown: the Frontend's error filter would reshape a 503 into an OpenAI error.
    const { status, body } = await this.readiness.check();
    void reply.status(status);
    return body;
  }
}
