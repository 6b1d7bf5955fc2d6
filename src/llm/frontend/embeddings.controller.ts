import { Body, Controller, HttpCode, Inject, Logger, Post } from '@nestjs/common';
import { EndpointError, InjectComponent, unary } from '@threadline/runtime';
import type { ComponentClient } from '@threadline/runtime';
import { LogComponent, RequestId, setRequestDeadline } from '@threadline/tracing';
import { LLM_CONFIG } from '../llm.config.js';
import type { LlmConfig } from '../llm.config.js';
import { MetricsService } from '../../observability/metrics/metrics.service.js';
import { ProcessorComponent } from '../processor/processor.component.js';
import { decodeVector } from '../protocol/embedding-vector.js';
import { InvalidRequestError } from '../protocol/invalid-request.error.js';
import type { EmbeddingsResult } from '../protocol/pipeline.types.js';
import { toOpenAIError } from './openai-error.js';
import { MAX_JSON_DEPTH, nestingDepth } from './request-shape.js';

/** OpenAI's embeddings response. */
export interface EmbeddingsResponse {
  object: 'list';
  data: Array<{ object: 'embedding'; index: number; embedding: number[] | string }>;
  model: string;
  usage: { prompt_tokens: number; total_tokens: number };
}

/**
 * `POST /v1/embeddings`, through the pipeline as generation goes: the Processor validates and tokenizes,
 * a worker's engine computes the vectors. One answer, no stream; errors are OpenAI's bodies.
 */
@LogComponent('frontend')
@Controller()
export class EmbeddingsController {
  private readonly logger = new Logger('Frontend');

  constructor(
    @Inject(LLM_CONFIG) private readonly config: LlmConfig,
    @InjectComponent(ProcessorComponent) private readonly processor: ComponentClient<ProcessorComponent>,
    private readonly metrics: MetricsService,
  ) {}

  @Post('v1/embeddings')
  @HttpCode(200)
  async embeddings(@Body() body: unknown, @RequestId() requestId: string): Promise<EmbeddingsResponse> {
    this.logger.debug('serving embeddings');
    setRequestDeadline(Date.now() + this.config.requestTimeoutMs);
    const meter = this.metrics.frontend.start(this.config.model, 'embeddings', requestId);
    try {
      const result = await unary(this.processor.embed({ body: checkedBody(body, requestId) }));
      meter.event({ type: 'usage', promptTokens: result.promptTokens, completionTokens: 0, cachedTokens: 0 });
      meter.end(200);
      return embeddingsResponse(result);
    } catch (error) {
      meter.end(toOpenAIError(error, requestId).status);
      throw error;
    }
  }
}

/** The response body: the vectors as numbers, or as they travelled (little-endian float32 in base64). */
export function embeddingsResponse(result: EmbeddingsResult): EmbeddingsResponse {
  const asFloats = result.encodingFormat === 'float';
  return {
    object: 'list',
    data: result.embeddings.map((vector, index) => ({
      object: 'embedding',
      index,
      embedding: asFloats ? decodeVector(vector) : vector,
    })),
    model: result.model,
    usage: { prompt_tokens: result.promptTokens, total_tokens: result.promptTokens },
  };
}

/**
 * A body nested deeper than any request needs is refused here, as it is for generation, before it
 * travels; any other goes on whole, for the Processor to refuse a field it does not know by name.
 */
function checkedBody(body: unknown, requestId: string): unknown {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return body;
  for (const [field, value] of Object.entries(body)) {
    if (nestingDepth(value, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) {
      const error = new InvalidRequestError(
        `\`${field}\` is nested more than ${MAX_JSON_DEPTH} levels deep; a request may nest at most ${MAX_JSON_DEPTH} levels.`,
        field,
        400,
        'json_too_deep',
      );
      throw EndpointError.from(error, { requestId, component: 'frontend', endpoint: 'embeddings' });
    }
  }
  return body;
}
