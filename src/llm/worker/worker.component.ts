import { Inject, Logger } from '@nestjs/common';
import { Component, ComponentEvents, Endpoint, InjectComponent, unary } from '@threadline/runtime';
import { RepeatedFailureLines } from '@threadline/tracing/internal';
import type {
  ComponentClient,
  ComponentInstanceInfo,
  EndpointContext,
  OnComponentStart,
  OnComponentStop,
} from '@threadline/runtime';
import { KV_EVENTS_TOPIC, PREFILL_LOAD_TOPIC } from '../kv/kv-events.js';
import type { PrefillLoad } from '../kv/kv-events.js';
import { LLM_CONFIG } from '../llm.config.js';
import type { LlmConfig } from '../llm.config.js';
import { MetricsService } from '../../observability/metrics/metrics.service.js';
import { PrefillComponent } from '../prefill/prefill.component.js';
import { InvalidRequestError } from '../protocol/invalid-request.error.js';
import type { EmbedRequest, EmbedResult, GenerateRequest, WorkerOutput } from '../protocol/pipeline.types.js';
import { createEngine } from './engine.factory.js';
import { GenerationNotes, traceGeneration } from './generation-span.js';
import type { LlmEngine, PrefillEngine } from './llm-engine.js';

/**
 * Runs one engine and streams the tokens it generates; several instances give the Router a choice.
 * With disaggregation on, it has a Prefill worker compute long uncached prompts first, then decodes.
 */
@Component({ name: 'worker' })
export class WorkerComponent implements OnComponentStart, OnComponentStop {
  private readonly logger = new Logger('Worker');
  private engine!: LlmEngine & Partial<PrefillEngine>;
  private readonly prefillQueues = new Map<string, number>();
  /** A Prefill outage under load falls back on every request: its lines are rate-limited. */
  private readonly fallbackLines = new RepeatedFailureLines();
  private unsubscribe: () => void = () => undefined;

  constructor(
    @Inject(LLM_CONFIG) private readonly config: LlmConfig,
    private readonly events: ComponentEvents,
    @InjectComponent(PrefillComponent, { optional: true })
    private readonly prefillWorkers: ComponentClient<PrefillComponent>,
    private readonly metrics: MetricsService,
  ) {}

  onComponentStart(info: ComponentInstanceInfo): void {
    this.engine = createEngine(
      this.config,
      info.instanceId,
      (event) => this.events.publish(KV_EVENTS_TOPIC, event),
      this.metrics.worker(info.instanceId),
    );
    if (this.config.disagg.enabled) {
      this.unsubscribe = this.events.subscribe<PrefillLoad>(PREFILL_LOAD_TOPIC, (load) =>
        this.prefillQueues.set(load.workerId, load.waiting),
      );
    }
  }

  async onComponentStop(): Promise<void> {
    this.unsubscribe();
    await this.engine.close();
  }

  /**
   * `ADMITTED` once the engine has taken the request, then its tokens. A prompt to prefill remotely is
   * sent to a Prefill worker after admission, so that the client has its answer's head meanwhile.
   */
  @Endpoint()
  generate(request: GenerateRequest, context: EndpointContext): AsyncIterable<WorkerOutput> {
    if (request.continuation !== undefined) {
      const { promptTokens, generatedTokens } = request.continuation;
      this.logger.log({ msg: `continuing a migrated generation after ${generatedTokens} tokens`, promptTokens });
    }
    // What a remote prefill tells the generation's span; none for a prompt prefilled here.
    const notes = this.shouldPrefillRemotely(request) ? new GenerationNotes() : undefined;
    const prepare = notes && (() => this.prefillRemotely(request, context, notes));
    const tokens = this.engine.generate(request, context.signal, prepare);
    return traceGeneration(tokens, request, this.config.model, context.instanceId, notes);
  }

  /** Disaggregation's rule: a long uncached prompt, while the Prefill workers' queue is short. */
  private shouldPrefillRemotely(request: GenerateRequest): boolean {
    const { enabled, thresholdTokens, maxPrefillQueue } = this.config.disagg;
    if (!enabled || this.engine.uncachedTokens === undefined) return false;
    if (this.engine.uncachedTokens(request.tokenIds, request.blocks) <= thresholdTokens) return false;
    const queued = [...this.prefillQueues.values()].reduce((sum, waiting) => sum + waiting, 0);
    return queued < maxPrefillQueue;
  }

  /**
   * The request, prefilled by a Prefill worker; by this worker itself when every Prefill worker is full,
   * or when remote prefill is unavailable (no Prefill instance, or the call failed because its instance
   * or the bus is gone: see `isPrefillUnavailable`), as Dynamo's decode workers do. The request's own
   * cancellation or deadline, and any other failure, are the caller's to see.
   */
  private async prefillRemotely(
    request: GenerateRequest,
    { signal, instanceId }: EndpointContext,
    notes: GenerationNotes,
  ): Promise<GenerateRequest> {
    try {
      if ((await this.prefillWorkers.instances()).length === 0)
        return this.prefillLocally(
          request,
          'component_unavailable',
          'no instance of prefill is known',
          notes,
          instanceId,
        );
      const prefilled = await unary(
        this.prefillWorkers.prefill(
          request.blocks === undefined
            ? { tokenIds: request.tokenIds }
            : { tokenIds: request.tokenIds, blocks: request.blocks },
        ),
      );
      this.logger.debug({ msg: `prefilled remotely by ${prefilled.prefillWorkerId}`, ...prefilled });
      const back = this.fallbackLines.succeeded();
      if (back !== undefined)
        this.logger.log({ msg: `remote prefill available again to ${instanceId}`, workerId: instanceId, ...back });
      return { ...request, prefilled };
    } catch (error) {
      if (signal.aborted) throw error;
      if ((error as { status?: unknown }).status === 429) {
        this.logger.debug('the Prefill workers are at capacity: prefilling locally');
        return request;
      }
      if (!isPrefillUnavailable(error)) throw error;
      const { code, message } = error as { code: string; message?: unknown };
      return this.prefillLocally(request, code, String(message), notes, instanceId);
    }
  }

  /**
   * `request` as it is, for this worker to prefill; says why on the generation's span, and at `warn`
   * (rate-limited for each worker, with the count of its fallbacks since its last line).
   */
  private prefillLocally(
    request: GenerateRequest,
    reason: string,
    detail: string,
    notes: GenerationNotes,
    workerId: string,
  ): GenerateRequest {
    const line = this.fallbackLines.failed();
    if (line !== undefined) {
      const { notLogged } = line;
      const since = notLogged === 0 ? '' : `; ${notLogged} more fallbacks not logged since the last line`;
      this.logger.warn({
        msg: `remote prefill unavailable (${reason}): ${workerId} prefilling locally${since}`,
        workerId,
        reason,
        detail,
        notLogged,
      });
    }
    notes.event('threadline.prefill.fallback', {
      'threadline.prefill.fallback': 'local',
      'threadline.prefill.fallback_reason': reason,
    });
    return request;
  }

  /** The vectors of an embeddings request's inputs: a unary call, to any worker. */
  @Endpoint()
  embed(request: EmbedRequest, context: EndpointContext): Promise<EmbedResult> {
    if (this.engine.embed === undefined) {
      throw new InvalidRequestError(
        `The ${this.config.engine} engine does not compute embeddings.`,
        undefined,
        400,
        'embeddings_unsupported',
      );
    }
    return this.engine.embed(request, context.signal);
  }
}

/**
 * The codes of a Prefill call's failure that say remote prefill cannot be had now: no instance of it,
 * its instance gone (killed, cut off, stopped, or silent when called), or the bus down. A cancel, a
 * deadline, a bad request or the engine's own error is not among them.
 */
const PREFILL_UNAVAILABLE = new Set([
  'component_unavailable',
  'instance_gone',
  'instance_unavailable',
  'instance_shutting_down',
  'no_instance_answered',
  'transport_error',
  'bus_unavailable',
]);

/** Whether `error` says that no Prefill worker can prefill now, so that the Worker does it itself. */
export function isPrefillUnavailable(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && PREFILL_UNAVAILABLE.has(code);
}
