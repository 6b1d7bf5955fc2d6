import { CLIENT_CLOSED_REQUEST } from '../../../observability/metrics/frontend.metrics.js';
import type { RequestMeter } from '../../../observability/metrics/frontend.metrics.js';
import type { FinishReason, ProcessorEvent } from '../../protocol/pipeline.types.js';
import { toOpenAIError } from '../openai-error.js';
import type { PipelineRendering } from '../pipeline-call.js';
import { logRequestFailure } from '../request-failure-log.js';
import type { ReplyHeaders, SseResponse } from '../sse-response.js';
import type { ItemStatus, StreamEvent } from './responses-items.js';
import { ResponseOutput } from './responses-output.js';
import type { ResponseSettings } from './responses-request.js';

type UsageEvent = Extract<ProcessorEvent, { type: 'usage' }>;
type ResponseStatus = 'in_progress' | 'completed' | 'incomplete' | 'failed';

/**
 * Renders the pipeline's events as the Responses API does: a `response` object (id `resp_<request
 * id>`), or its stream of typed events, each an SSE `event:` line with its `data:`.
 */
export class ResponsesRendering implements PipelineRendering {
  readonly id: string;
  private readonly createdAt = Math.floor(Date.now() / 1000);
  private sequence = 0;

  constructor(
    private readonly requestId: string,
    private readonly model: string,
    private readonly settings: ResponseSettings,
  ) {
    this.id = `resp_${requestId}`;
  }

  async collect(events: AsyncIterator<ProcessorEvent>, meter: RequestMeter): Promise<object> {
    const output = new ResponseOutput(this.requestId);
    for (let next = await events.next(); !next.done; next = await events.next()) {
      meter.event(next.value);
      output.apply(next.value);
    }
    if (output.usage === undefined) throw new Error('The processor stream ended without usage.');
    output.close(itemStatus(output.reason));
    return this.finished(output);
  }

  /** Runs in the request's context (it is called from the handler), so every log line has the id. */
  async stream(
    out: SseResponse,
    headers: ReplyHeaders,
    events: AsyncIterator<ProcessorEvent>,
    meter: RequestMeter,
  ): Promise<void> {
    const output = new ResponseOutput(this.requestId);
    let status = 200;
    const write = async (event: StreamEvent) => {
      if (!out.write(this.sse(event))) await out.drained();
    };
    try {
      out.open(headers);
      // An SSE comment, which clients ignore: the status and headers go out before the first token.
      out.write(': ok\n\n');
      const started = this.response('in_progress', [], null);
      await write({ type: 'response.created', response: started });
      await write({ type: 'response.in_progress', response: started });
      for (let next = await events.next(); !next.done && !out.closed; next = await events.next()) {
        meter.event(next.value);
        for (const event of output.apply(next.value)) await write(event);
      }
      if (out.closed) {
        status = CLIENT_CLOSED_REQUEST;
        return;
      }
      if (output.usage === undefined) throw new Error('The processor stream ended without usage.');
      for (const event of output.close(itemStatus(output.reason))) await write(event);
      const response = this.finished(output);
      out.end(this.sse({ type: `response.${response.status}`, response }));
    } catch (error) {
      // Headers are sent: the failure is an `error` event carrying the request id, then `response.failed`.
      const failure = toOpenAIError(error, this.requestId);
      status = failure.status;
      logRequestFailure(error, failure.status, failure.body);
      const { message, code, param } = failure.body.error;
      out.write(this.sse({ type: 'error', code, message, param }));
      const error_ = { code: code ?? 'server_error', message };
      out.end(
        this.sse({
          type: 'response.failed',
          response: this.response('failed', output.bodies('incomplete'), null, error_),
        }),
      );
    } finally {
      // A client gone mid-stream stops the pipeline (the request's signal has aborted already).
      await events.return?.();
      meter.end(status);
    }
  }

  /** The response once every event is in: `incomplete` when the output hit its token limit or a content filter. */
  private finished(output: ResponseOutput) {
    const incomplete = incompleteReason(output.reason);
    const status = incomplete === undefined ? 'completed' : 'incomplete';
    return this.response(status, output.bodies(itemStatus(output.reason)), output.usage!, null, incomplete);
  }

  /** The response object, its fields as OpenAI's, the request's settings echoed. */
  private response(
    status: ResponseStatus,
    output: object[],
    usage: UsageEvent | null,
    error: { code: string; message: string } | null = null,
    incomplete: IncompleteReason = 'max_output_tokens',
  ) {
    const { settings } = this;
    return {
      id: this.id,
      object: 'response',
      created_at: this.createdAt,
      status,
      background: false,
      // As OpenAI's: set only on a response that completed.
      completed_at: status === 'completed' ? Math.floor(Date.now() / 1000) : null,
      error,
      incomplete_details: status === 'incomplete' ? { reason: incomplete } : null,
      instructions: settings.instructions,
      max_output_tokens: settings.max_output_tokens,
      max_tool_calls: null,
      model: this.model,
      output,
      parallel_tool_calls: settings.parallel_tool_calls,
      previous_response_id: null,
      prompt_cache_key: settings.prompt_cache_key,
      reasoning: { effort: settings.reasoning_effort, summary: null },
      safety_identifier: settings.safety_identifier,
      service_tier: 'default',
      // Nothing is stored, whatever the request asked.
      store: false,
      temperature: settings.temperature,
      text: { format: settings.text_format, verbosity: 'medium' },
      tool_choice: settings.tool_choice,
      tools: settings.tools,
      top_logprobs: settings.top_logprobs,
      top_p: settings.top_p,
      truncation: 'disabled',
      usage: usage === null ? null : usageBody(usage),
      user: settings.user,
      metadata: settings.metadata,
    };
  }

  private sse(event: StreamEvent): string {
    const payload = { ...event, sequence_number: this.sequence++ };
    return `event: ${event.type}\ndata: ${JSON.stringify(payload)}\n\n`;
  }
}

/** Why a response is `incomplete`, in the Responses API's words. */
type IncompleteReason = 'max_output_tokens' | 'content_filter';

function incompleteReason(reason: FinishReason): IncompleteReason | undefined {
  if (reason === 'length') return 'max_output_tokens';
  return reason === 'content_filter' ? reason : undefined;
}

function itemStatus(reason: FinishReason): ItemStatus {
  return incompleteReason(reason) === undefined ? 'completed' : 'incomplete';
}

/** The Responses API's `usage` object. */
function usageBody(usage: UsageEvent) {
  return {
    input_tokens: usage.promptTokens,
    input_tokens_details: { cached_tokens: usage.cachedTokens },
    output_tokens: usage.completionTokens,
    output_tokens_details: { reasoning_tokens: usage.reasoningTokens ?? 0 },
    total_tokens: usage.promptTokens + usage.completionTokens,
  };
}
