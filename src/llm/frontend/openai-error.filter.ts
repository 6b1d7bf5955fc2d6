import { Catch, Inject, NotFoundException } from '@nestjs/common';
import type { ArgumentsHost, ExceptionFilter } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { RequestIdService } from '@threadline/tracing';
import { refusedPreflightMessage } from '../../http/api-cors.js';
import { LLM_CONFIG } from '../llm.config.js';
import type { LlmConfig } from '../llm.config.js';
import { isRetryLater, toOpenAIError } from './openai-error.js';
import { logRequestFailure } from './request-failure-log.js';

/** The `Retry-After` a refusal carries itself (an upstream's, passed on), if any. */
function retryAfterOf(error: unknown): number | undefined {
  const seconds = (error as { retryAfterSeconds?: unknown } | null)?.retryAfterSeconds;
  return typeof seconds === 'number' && Number.isInteger(seconds) && seconds >= 0 ? seconds : undefined;
}

/**
 * Every HTTP error of the service as an OpenAI error body: bad JSON, a body over the limit, an unknown
 * route, a bad parameter, a full queue, an engine failure. The response keeps its `x-request-id`; a
 * 429 or 503 tells the client when to retry (`Retry-After`).
 */
@Catch()
export class OpenAIErrorFilter implements ExceptionFilter {
  constructor(
    private readonly requestIds: RequestIdService,
    @Inject(LLM_CONFIG) private readonly config: LlmConfig,
  ) {}

  catch(error: unknown, host: ArgumentsHost): void {
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    // A preflight the CORS hook left unanswered comes here as an unknown route: say why instead.
    const preflight = error instanceof NotFoundException ? refusedPreflightMessage(reply.request) : undefined;
    const { status, body } = toOpenAIError(
      preflight === undefined ? error : new NotFoundException(preflight),
      this.requestIds.id,
    );
    logRequestFailure(error, status, body);
    if (reply.raw.headersSent) {
      // A stream already under way cannot change its status: end it; the client sees it cut short.
      reply.raw.end();
      return;
    }
    if (isRetryLater(status))
      void reply.header('retry-after', String(retryAfterOf(error) ?? this.config.retryAfterSeconds));
    void reply.status(status).send(body);
  }
}
