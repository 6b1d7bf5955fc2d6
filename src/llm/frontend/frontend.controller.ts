import { Body, Controller, Get, HttpCode, Inject, Logger, Param, Post, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { EndpointError, InjectComponent } from '@threadline/runtime';
import type { ComponentClient } from '@threadline/runtime';
import { LogComponent, RequestId } from '@threadline/tracing';
import { LLM_CONFIG } from '../llm.config.js';
import type { LlmConfig } from '../llm.config.js';
import { MetricsService } from '../../observability/metrics/metrics.service.js';
import { CLIENT_CLOSED_REQUEST } from '../../observability/metrics/frontend.metrics.js';
import type { RequestMeter } from '../../observability/metrics/frontend.metrics.js';
import { ProcessorComponent } from '../processor/processor.component.js';
import type { ApiKind, ProcessorEvent } from '../protocol/pipeline.types.js';
import { toOpenAIError } from './openai-error.js';
import { CollectedChoice, OpenAIResponseBuilder, openingContent } from './openai-response.js';
import { logRequestFailure } from './request-failure-log.js';
import { requestForBus } from './request-shape.js';
import { servePipeline } from './pipeline-call.js';
import type { SseResponse } from './sse-response.js';
import type { ReplyHeaders } from './sse-response.js';

type Accepted = Extract<ProcessorEvent, { type: 'accepted' }>;

/** The OpenAI-compatible HTTP API: the pipeline's entry point, a controller whose log lines say `component: frontend`. */
@LogComponent('frontend')
@Controller()
export class FrontendController {
  private readonly logger = new Logger('Frontend');

  constructor(
    @Inject(LLM_CONFIG) private readonly config: LlmConfig,
    @InjectComponent(ProcessorComponent) private readonly processor: ComponentClient<ProcessorComponent>,
    private readonly metrics: MetricsService,
  ) {}

  @Get('health')
  health(): { status: 'ok' } {
    return { status: 'ok' };
  }

  @Get('v1/models')
  models() {
    return { object: 'list', data: [this.modelObject()] };
  }

  /** One model (the OpenAI clients' `models.retrieve`): the served one, or a 404 as a request for another gets. */
  @Get('v1/models/:id')
  model(@Param('id') id: string, @RequestId() requestId: string) {
    if (id !== this.config.model) {
      throw new EndpointError({
        message: `The model \`${id}\` does not exist. This server serves \`${this.config.model}\`.`,
        status: 404,
        code: 'model_not_found',
        param: 'model',
        expected: true,
        requestId,
        component: 'frontend',
        endpoint: 'models',
      });
    }
    return this.modelObject();
  }

  private modelObject() {
    return { id: this.config.model, object: 'model', created: 0, owned_by: 'threadline' };
  }

  @Post('v1/chat/completions')
  @HttpCode(200)
  chat(@Body() body: unknown, @Res() reply: FastifyReply, @RequestId() requestId: string): Promise<void> {
    return this.serve('chat', body, reply, requestId);
  }

  @Post('v1/completions')
  @HttpCode(200)
  completions(@Body() body: unknown, @Res() reply: FastifyReply, @RequestId() requestId: string): Promise<void> {
    return this.serve('completion', body, reply, requestId);
  }

  /** Chat and completions through the pipeline (pipeline-call.ts), rendered as OpenAI's bodies or chunks. */
  private serve(api: ApiKind, body: unknown, reply: FastifyReply, requestId: string): Promise<void> {
    this.logger.debug(`serving ${api === 'chat' ? 'chat/completions' : 'completions'}`);
    const { config, processor, metrics, logger } = this;
    return servePipeline(
      { config, processor, metrics, logger },
      {
        api,
        endpoint: api === 'chat' ? 'chat_completions' : 'completions',
        requestId,
        reply,
        // A body whose shape could hurt the hops after this one is refused here, in every layout.
        body: () => requestForBus(api, body),
        render: (accepted) => {
          const continuousUsage = accepted.continuousUsage === true ? accepted.promptTokens : undefined;
          const opening = openingContent(body);
          const response = new OpenAIResponseBuilder(api, requestId, accepted.model, opening, continuousUsage);
          return {
            collect: (events, meter) => collect(events, response, accepted, meter),
            stream: (out, headers, events, meter) => streamEvents(out, headers, events, response, accepted, meter),
          };
        },
      },
    );
  }
}

async function collect(
  events: AsyncIterator<ProcessorEvent>,
  response: OpenAIResponseBuilder,
  accepted: Accepted,
  meter: RequestMeter,
): Promise<object> {
  const choices = Array.from({ length: accepted.n }, () => new CollectedChoice());
  let usage: Extract<ProcessorEvent, { type: 'usage' }> | undefined;
  for (let next = await events.next(); !next.done; next = await events.next()) {
    const event = next.value;
    meter.event(event);
    if (event.type === 'usage') usage = event;
    else if (event.type === 'fingerprint') response.fingerprint(event.systemFingerprint);
    else if (event.type !== 'accepted') choices[event.choice]?.add(event);
  }
  if (usage === undefined) throw new Error('The processor stream ended without usage.');
  return response.completion(choices, usage);
}

/**
 * OpenAI's server-sent events: one `data:` line per chunk, `data: [DONE]` at the end. Runs in the
 * request's context (it is called from the handler), so every log line of the pipeline has the id.
 */
async function streamEvents(
  out: SseResponse,
  headers: ReplyHeaders,
  events: AsyncIterator<ProcessorEvent>,
  response: OpenAIResponseBuilder,
  accepted: Accepted,
  meter: RequestMeter,
): Promise<void> {
  let status = 200;
  try {
    out.open(headers);
    // An SSE comment, which clients ignore, so the status and headers (the request id among them) go
    // out now rather than with the first token, which a queue or a long prefill may hold back.
    out.write(': ok\n\n');
    // The opening chunks wait for the generation's first event, which brings an upstream's
    // system_fingerprint: OpenAI puts it on every chunk, the opening ones too.
    let opened = false;
    const open = () => {
      if (opened) return;
      opened = true;
      for (const chunk of response.openingChunks(accepted.n)) out.write(data(chunk));
    };
    for (let next = await events.next(); !next.done && !out.closed; next = await events.next()) {
      meter.event(next.value);
      const chunk = eventChunk(next.value, response, accepted);
      if (chunk === undefined) continue;
      open();
      if (!out.write(chunk)) await out.drained();
    }
    if (out.closed) status = CLIENT_CLOSED_REQUEST;
    else {
      open();
      out.end('data: [DONE]\n\n');
    }
  } catch (error) {
    // Headers are sent: the failure becomes an error event carrying the request id, then the stream ends.
    const failure = toOpenAIError(error, response.requestId);
    status = failure.status;
    logRequestFailure(error, failure.status, failure.body);
    out.end(data(failure.body));
  } finally {
    // A client gone mid-stream stops the pipeline (the request's signal has aborted already).
    await events.return?.();
    meter.end(status);
  }
}

/** The SSE chunk for one processor event, if the client gets one for it. */
function eventChunk(event: ProcessorEvent, response: OpenAIResponseBuilder, accepted: Accepted): string | undefined {
  if (event.type === 'text') return response.textEvent(event);
  if (event.type === 'tool_call') return data(response.toolCallChunk(event));
  if (event.type === 'refusal') return data(response.refusalChunk(event));
  if (event.type === 'reasoning') return data(response.reasoningChunk(event));
  if (event.type === 'finish') return data(response.finishChunk(event));
  if (event.type === 'fingerprint') response.fingerprint(event.systemFingerprint);
  if (event.type === 'usage' && accepted.includeUsage) return data(response.usageChunk(event));
  return undefined;
}

function data(payload: object): string {
  return `data: ${JSON.stringify(payload)}\n\n`;
}
