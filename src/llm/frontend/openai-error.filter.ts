import { Catch, Logger } from '@nestjs/common';
import type { ArgumentsHost, ExceptionFilter } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { RequestIdService } from '@threadline/tracing';
import { toOpenAIError } from './openai-error.js';

/**
 * Every HTTP error of the service as an OpenAI error body: bad JSON, a body over the limit, an unknown
 * route, a bad parameter, an engine failure. The response keeps its `x-request-id`.
 */
@Catch()
export class OpenAIErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger('Frontend');

  constructor(private readonly requestIds: RequestIdService) {}

  catch(error: unknown, host: ArgumentsHost): void {
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    const { status, body } = toOpenAIError(error, this.requestIds.id);
    if (status >= 500) this.logger.error({ msg: `request failed: ${body.error.message}`, err: error });
    if (reply.raw.headersSent) {
      // A stream already under way cannot change its status: end it; the client sees it cut short.
      reply.raw.end();
      return;
    }
    void reply.status(status).send(body);
  }
}
