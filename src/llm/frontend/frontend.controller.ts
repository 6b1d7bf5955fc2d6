import { Body, Controller, Get, HttpCode, Inject, Logger, Post, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { EndpointError, InjectComponent } from '@threadline/runtime';
import type { ComponentClient } from '@threadline/runtime';
import { LogComponent, RequestId, setRequestDeadline } from '@threadline/tracing';
import { LLM_CONFIG } from '../llm.config.js';
import type { LlmConfig } from '../llm.config.js';
import { MetricsService } from '../../observability/metrics/metrics.service.js';
import type { RequestMeter } from '../../observability/metrics/frontend.metrics.js';
import { ProcessorComponent } from '../processor/processor.component.js';
import type { ApiKind, FinishReason, ProcessorEvent } from '../protocol/pipeline.types.js';
import { toOpenAIError } from './openai-error.js';
import { OpenAIResponseBuilder } from './openai-response.js';
import { requestForBus } from './request-shape.js';
import { SseResponse } from './sse-response.js';
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
    return { object: 'list', data: [{ id: this.config.model, object: 'model', created: 0, owned_by: 'threadline' }] };
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

  /**
   * Waits for the Processor to accept the request (valid, and taken by a worker) before answering, so a
   * bad request or a full queue is a plain HTTP error; then streams (SSE) or collects the response. The
   * request's deadline goes with every call: past it, the pipeline stops and the client gets a 504.
   */
  private async serve(api: ApiKind, body: unknown, reply: FastifyReply, requestId: string): Promise<void> {
    this.logger.debug(`serving ${api === 'chat' ? 'chat/completions' : 'completions'}`);
    setRequestDeadline(Date.now() + this.config.requestTimeoutMs);
    const meter = this.metrics.frontend.start(
      this.config.model,
      api === 'chat' ? 'chat_completions' : 'completions',
      requestId,
    );
    try {
      const events = this.processor
        .generate({ api, body: this.checkedBody(api, body, requestId) })
        [Symbol.asyncIterator]();
      const first = await events.next();
      if (first.done || first.value.type !== 'accepted') throw new Error('The processor did not accept the request.');
      const accepted = first.value;
      meter.event(accepted);
      const response = new OpenAIResponseBuilder(api, requestId, accepted.model);
      if (accepted.stream) {
        const headers = reply.getHeaders();
        reply.hijack();
        void streamEvents(new SseResponse(reply.raw), headers, events, response, accepted, meter).catch(
          (error: unknown) => this.logger.error({ msg: 'the stream could not be closed cleanly', err: error }),
        );
        return;
      }
      void reply.send(await collect(events, response, accepted, meter));
      meter.end(200);
    } catch (error) {
      meter.end(toOpenAIError(error, requestId).status);
      throw error;
    }
  }

  /** A body whose shape could hurt the hops after this one is refused here, in every layout. */
  private checkedBody(api: ApiKind, body: unknown, requestId: string): unknown {
    try {
      return requestForBus(api, body);
    } catch (error) {
      throw EndpointError.from(error, { requestId, component: 'frontend', endpoint: api });
    }
  }
}

async function collect(
  events: AsyncIterator<ProcessorEvent>,
  response: OpenAIResponseBuilder,
  accepted: Accepted,
  meter: RequestMeter,
): Promise<object> {
  const texts = Array.from({ length: accepted.n }, () => '');
  const reasons: Array<FinishReason | undefined> = [];
  let usage: Extract<ProcessorEvent, { type: 'usage' }> | undefined;
  for (let next = await events.next(); !next.done; next = await events.next()) {
    const event = next.value;
    meter.event(event);
    if (event.type === 'text') texts[event.choice] += event.text;
    else if (event.type === 'finish') reasons[event.choice] = event.reason;
    else if (event.type === 'usage') usage = event;
  }
  if (usage === undefined) throw new Error('The processor stream ended without usage.');
  return response.completion(texts, reasons, usage);
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
    for (const chunk of response.openingChunks(accepted.n)) out.write(data(chunk));
    for (let next = await events.next(); !next.done && !out.closed; next = await events.next()) {
      meter.event(next.value);
      const chunk = eventChunk(next.value, response, accepted);
      if (chunk !== undefined && !out.write(chunk)) await out.drained();
    }
    out.end('data: [DONE]\n\n');
  } catch (error) {
    // Headers are sent: the failure becomes an error event carrying the request id, then the stream ends.
    const failure = toOpenAIError(error, response.requestId);
    status = failure.status;
    out.end(data(failure.body));
  } finally {
    // A client gone mid-stream stops the pipeline (the request's signal has aborted already).
    await events.return?.();
    meter.end(status);
  }
}

/** The SSE chunk for one processor event, if the client gets one for it. */
function eventChunk(event: ProcessorEvent, response: OpenAIResponseBuilder, accepted: Accepted): string | undefined {
  if (event.type === 'text') return data(response.textChunk(event));
  if (event.type === 'finish') return data(response.finishChunk(event));
  if (event.type === 'usage' && accepted.includeUsage) return data(response.usageChunk(event));
  return undefined;
}

function data(payload: object): string {
  return `data: ${JSON.stringify(payload)}\n\n`;
}
