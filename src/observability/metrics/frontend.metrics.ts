import { Counter, Gauge, Histogram } from 'prom-client';
import type { OpenMetricsContentType, Registry } from 'prom-client';
import { ClientDisconnectedError, getRequestSignal, outboundTracingHeaders } from '@threadline/tracing';
import { registerIn } from './register.js';
import { requestExemplar } from './request-exemplar.js';
import { currentHttpSpan, recordOutcome } from '../request-outcome-span.js';

/** The API a request came through, as the `endpoint` label names it. */
export type EndpointLabel = 'chat_completions' | 'completions' | 'responses' | 'embeddings';

/** The `status` of a request whose client closed the connection before its response was complete (nginx's). */
export const CLIENT_CLOSED_REQUEST = 499;

/** What a request's meter reads from the pipeline's events (the Processor's, as the Frontend gets them). */
export type MeteredEvent =
  | { type: 'accepted'; n: number }
  | { type: 'text' }
  | { type: 'tool_call' }
  | { type: 'refusal' }
  | { type: 'reasoning' }
  | { type: 'fingerprint' }
  | { type: 'finish' }
  | { type: 'usage'; promptTokens: number; completionTokens: number; cachedTokens: number };

const LATENCY = ['model', 'endpoint'] as const;

/**
 * The Frontend's metrics, named as Dynamo's Frontend names them under `threadline_`: requests by
 * outcome and in flight, time to first token, inter-token latency and duration (with the request id
 * and trace id as exemplars), and the tokens in and out.
 */
export class FrontendMetrics {
  readonly requests: Counter<'model' | 'endpoint' | 'status'>;
  readonly inflight: Gauge<'model'>;
  readonly timeToFirstToken: Histogram<(typeof LATENCY)[number]>;
  readonly interTokenLatency: Histogram<(typeof LATENCY)[number]>;
  readonly duration: Histogram<(typeof LATENCY)[number]>;
  readonly inputTokens: Counter<'model'>;
  readonly outputTokens: Counter<'model'>;
  readonly cachedTokens: Counter<'model'>;

  constructor(registry: Registry<OpenMetricsContentType>) {
    // Registered by `registerIn` below, not through `registers`.
    const registers: [] = [];
    this.requests = new Counter({
      name: 'threadline_requests_total',
      help: 'Generation requests answered, by HTTP status (a stream that fails after its head: the status of its error event).',
      labelNames: ['model', 'endpoint', 'status'],
      registers,
    });
    this.inflight = new Gauge({
      name: 'threadline_inflight_requests',
      help: 'Generation requests being answered now.',
      labelNames: ['model'],
      registers,
    });
    this.timeToFirstToken = new Histogram({
      name: 'threadline_time_to_first_token_seconds',
      help: 'From the request reaching the Frontend to its first generated text.',
      labelNames: LATENCY,
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      enableExemplars: true,
      registers,
    });
    this.interTokenLatency = new Histogram({
      name: 'threadline_inter_token_latency_seconds',
      help: "A request's mean time between generated tokens after the first.",
      labelNames: LATENCY,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 1],
      enableExemplars: true,
      registers,
    });
    this.duration = new Histogram({
      name: 'threadline_request_duration_seconds',
      help: 'From the request reaching the Frontend to the end of its response.',
      labelNames: LATENCY,
      buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600],
      enableExemplars: true,
      registers,
    });
    const tokens = (name: string, help: string) =>
      new Counter({ name, help, labelNames: ['model'] as const, registers });
    this.inputTokens = tokens('threadline_input_tokens_total', 'Prompt tokens of the requests answered.');
    this.outputTokens = tokens(
      'threadline_output_tokens_total',
      'Completion tokens of the requests answered, every choice counted.',
    );
    this.cachedTokens = tokens(
      'threadline_cached_tokens_total',
      'Prompt tokens of the requests answered whose KV cache a worker already held.',
    );
    registerIn(registry, [
      this.requests,
      this.inflight,
      this.timeToFirstToken,
      this.interTokenLatency,
      this.duration,
      this.inputTokens,
      this.outputTokens,
      this.cachedTokens,
    ]);
  }

  /** Starts metering one request: it is in flight from now until `end()`. */
  start(model: string, endpoint: EndpointLabel, requestId: string): RequestMeter {
    return new RequestMeter(this, model, endpoint, requestId);
  }
}

/**
 * One request's meter. The Frontend hands it every event it reads and ends it once with the status
 * the request ended with; nothing of the request's text is kept.
 */
export class RequestMeter {
  private readonly started = performance.now();
  private firstText: number | undefined;
  private lastText = 0;
  private choices = 1;
  private usage: Extract<MeteredEvent, { type: 'usage' }> | undefined;
  private ended = false;
  /** The request's HTTP span, when spans are recorded: told how the request ended (the timeline, OTLP). */
  private readonly span = currentHttpSpan();

  constructor(
    private readonly metrics: FrontendMetrics,
    private readonly model: string,
    private readonly endpoint: EndpointLabel,
    private readonly requestId: string,
  ) {
    metrics.inflight.inc({ model });
    // A client that leaves ends the request's HTTP span at once, while the pipeline is still stopping:
    // the span is told the outcome then, or it would end without one.
    if (this.span !== undefined) getRequestSignal()?.addEventListener('abort', this.clientGone, { once: true });
  }

  private readonly clientGone = (event: Event): void => {
    if ((event.target as AbortSignal).reason instanceof ClientDisconnectedError && !this.ended)
      recordOutcome(this.span!, { status: CLIENT_CLOSED_REQUEST, ttftMs: this.ttftMs() });
  };

  private ttftMs(): number | undefined {
    return this.firstText === undefined ? undefined : this.firstText - this.started;
  }

  event(event: MeteredEvent): void {
    // A tool call's arguments and a refusal are output tokens too: the first one is the first token.
    if (event.type === 'text' || event.type === 'tool_call' || event.type === 'refusal' || event.type === 'reasoning') {
      this.lastText = performance.now();
      this.firstText ??= this.lastText;
    } else if (event.type === 'usage') this.usage = event;
    else if (event.type === 'accepted') this.choices = event.n;
  }

  /** The request is over: its response ended (or failed) with `status`. Only the first call counts. */
  end(status: number): void {
    if (this.ended) return;
    this.ended = true;
    const { metrics, model, endpoint } = this;
    // Tokens count for the requests answered: a request that failed or whose client left got no usage.
    const usage = status === 200 ? this.usage : undefined;
    const seconds = (since: number, until: number) => (until - since) / 1000;
    metrics.inflight.dec({ model });
    metrics.requests.inc({ model, endpoint, status: String(status) });
    // Called in the request's context, so the traceparent passed on is the request's own.
    const exemplarLabels = requestExemplar(this.requestId, outboundTracingHeaders().traceparent);
    const labels = { model, endpoint };
    const now = performance.now();
    metrics.duration.observe({ labels, value: seconds(this.started, now), exemplarLabels });
    if (this.firstText !== undefined) {
      metrics.timeToFirstToken.observe({ labels, value: seconds(this.started, this.firstText), exemplarLabels });
      const perChoice = usage === undefined ? 0 : usage.completionTokens / this.choices;
      if (perChoice > 1) {
        const value = seconds(this.firstText, this.lastText) / (perChoice - 1);
        metrics.interTokenLatency.observe({ labels, value, exemplarLabels });
      }
    }
    if (usage !== undefined) {
      metrics.inputTokens.inc({ model }, usage.promptTokens);
      metrics.outputTokens.inc({ model }, usage.completionTokens);
      metrics.cachedTokens.inc({ model }, usage.cachedTokens);
    }
    if (this.span !== undefined) recordOutcome(this.span, { status, ttftMs: this.ttftMs(), usage });
  }
}
