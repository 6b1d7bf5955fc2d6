import type { Logger } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { EndpointError } from '@threadline/runtime';
import type { ComponentClient } from '@threadline/runtime';
import { setRequestDeadline } from '@threadline/tracing';
import { isClientGone } from './client-gone.js';
import type { LlmConfig } from '../llm.config.js';
import type { MetricsService } from '../../observability/metrics/metrics.service.js';
import { CLIENT_CLOSED_REQUEST } from '../../observability/metrics/frontend.metrics.js';
import type { EndpointLabel, RequestMeter } from '../../observability/metrics/frontend.metrics.js';
import type { ProcessorComponent } from '../processor/processor.component.js';
import type { ApiKind, ProcessorEvent } from '../protocol/pipeline.types.js';
import { toOpenAIError } from './openai-error.js';
import { SseResponse } from './sse-response.js';
import type { ReplyHeaders } from './sse-response.js';

export type Accepted = Extract<ProcessorEvent, { type: 'accepted' }>;

/** What a controller serving the pipeline holds: the Processor, the settings and the metrics. */
export interface PipelineDeps {
  config: Pick<LlmConfig, 'model' | 'requestTimeoutMs'>;
  processor: ComponentClient<ProcessorComponent>;
  metrics: MetricsService;
  logger: Logger;
}

/** How one HTTP API renders the Processor's events once the request is accepted. */
export interface PipelineRendering {
  /** The whole response body, from the events after `accepted`; every event goes to `meter`. */
  collect(events: AsyncIterator<ProcessorEvent>, meter: RequestMeter): Promise<object>;
  /**
   * Writes the events to `out` as server-sent events (the reply is hijacked already). Ends `meter` with
   * the status the stream ended with, and returns the events iterator when it stops reading.
   */
  stream(
    out: SseResponse,
    headers: ReplyHeaders,
    events: AsyncIterator<ProcessorEvent>,
    meter: RequestMeter,
  ): Promise<void>;
}

/** One request to serve through the pipeline. */
export interface PipelineCall {
  /** The Processor's API for the body. */
  api: ApiKind;
  /** The `endpoint` label of the request's metrics. */
  endpoint: EndpointLabel;
  requestId: string;
  reply: FastifyReply;
  /** The body to send to the Processor; throws (an InvalidRequestError) to refuse the request here. */
  body(): unknown;
  render(accepted: Accepted): PipelineRendering;
}

/**
 * Waits for the Processor to accept the request (valid, and taken by a worker) before answering, so a
 * bad request or a full queue is a plain HTTP error (thrown, for the error filter); then streams (SSE)
 * or collects the response as `call.render` says. The request's deadline goes with every call: past it,
 * the pipeline stops and the client gets a 504.
 */
export async function servePipeline(deps: PipelineDeps, call: PipelineCall): Promise<void> {
  const { config, processor, metrics, logger } = deps;
  const { api, requestId, reply } = call;
  setRequestDeadline(Date.now() + config.requestTimeoutMs);
  const meter = metrics.frontend.start(config.model, call.endpoint, requestId);
  try {
    const events = processor.generate({ api, body: checkedBody(call) })[Symbol.asyncIterator]();
    const first = await events.next();
    if (first.done || first.value.type !== 'accepted') throw new Error('The processor did not accept the request.');
    const accepted = first.value;
    meter.event(accepted);
    const rendering = call.render(accepted);
    if (accepted.stream) {
      const headers = reply.getHeaders();
      reply.hijack();
      void rendering
        .stream(new SseResponse(reply.raw), headers, events, meter)
        .catch((error: unknown) => logger.error({ msg: 'the stream could not be closed cleanly', err: error }));
      return;
    }
    const body = await rendering.collect(events, meter);
    meter.end(isClientGone() ? CLIENT_CLOSED_REQUEST : 200);
    void reply.send(body);
  } catch (error) {
    meter.end(isClientGone() ? CLIENT_CLOSED_REQUEST : toOpenAIError(error, requestId).status);
    throw error;
  }
}

/** A body refused here is refused as the Processor would: an EndpointError of this request. */
function checkedBody(call: PipelineCall): unknown {
  try {
    return call.body();
  } catch (error) {
    throw EndpointError.from(error, { requestId: call.requestId, component: 'frontend', endpoint: call.api });
  }
}
