import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { Inject, Logger } from '@nestjs/common';
import { Component, ComponentEvents, Endpoint, InjectComponent } from '@threadline/runtime';
import type { ComponentClient, OnComponentStart, OnComponentStop } from '@threadline/runtime';
import { getCurrentSpan } from '@threadline/tracing/internal';
import { promptBlockHashesInTurns } from '../kv/block-hash.mjs';
import { KV_EVENTS_TOPIC } from '../kv/kv-events.js';
import type { KvEvent } from '../kv/kv-events.js';
import { LLM_CONFIG } from '../llm.config.js';
import type { LlmConfig } from '../llm.config.js';
import { MetricsService } from '../../observability/metrics/metrics.service.js';
import { CapacityError, RATE_LIMIT_CODE } from '../protocol/capacity.error.js';
import type { RouteDecision, RouteRequest } from '../protocol/pipeline.types.js';
import { WorkerComponent } from '../worker/worker.component.js';
import { KvIndex } from './kv-index.js';
import { createRoutingPolicy } from './routing-policy.js';
import type { RoutingPolicy } from './routing-policy.js';

/** Block ids of a prompt past which its look-up in the workers' caches waits for a turn of the event loop. */
const LOOKUPS_PER_TURN = 1024;

/**
 * Chooses the worker for each request among the workers running now: by KV-cache overlap against load
 * (`kv`), or round-robin, or at random. Fed by the workers' KV events.
 */
@Component({ name: 'router' })
export class RouterComponent implements OnComponentStart, OnComponentStop {
  private readonly logger = new Logger(RouterComponent.name);
  private readonly index = new KvIndex();
  private readonly policy: RoutingPolicy;
  private unsubscribe: () => void = () => undefined;

  constructor(
    @Inject(LLM_CONFIG) private readonly config: LlmConfig,
    @InjectComponent(WorkerComponent) private readonly workers: ComponentClient<WorkerComponent>,
    private readonly events: ComponentEvents,
    private readonly metrics: MetricsService,
  ) {
    this.policy = createRoutingPolicy(config.router, this.index);
  }

  onComponentStart(): void {
    this.unsubscribe = this.events.subscribe<KvEvent>(KV_EVENTS_TOPIC, (event) => this.index.apply(event));
  }

  onComponentStop(): void {
    this.unsubscribe();
  }

  @Endpoint()
  async route(request: RouteRequest): Promise<RouteDecision> {
    const running = await this.workers.instances();
    for (const known of this.index.workers()) if (!running.includes(known)) this.index.forget(known);
    this.metrics.router.retain(running);
    // A request migrating away from workers that failed it is not sent back to them.
    const excluded = request.exclude ?? [];
    const workerIds = excluded.length === 0 ? running : running.filter((workerId) => !excluded.includes(workerId));
    if (workerIds.length === 0) throw new CapacityError('No worker is available.', 503, 'no_worker_available');
    // A worker that reported itself full would refuse the request: another one may take it.
    const open = workerIds.filter((workerId) => !this.index.isFull(workerId));
    if (open.length === 0) {
      const which = workerIds.length === 1 ? 'The worker is' : `All ${workerIds.length} workers are`;
      throw new CapacityError(`${which} at capacity; retry later.`, 429, RATE_LIMIT_CODE);
    }
    const hashes = await promptBlockHashesInTurns(request.tokenIds, this.config.mocker.blockSize, request.blocks);
    // A long prompt's thousands of block ids took a while to come by: other requests get a turn before
    // they are looked up in each worker's cache.
    if (hashes.length > LOOKUPS_PER_TURN) await yieldToLoop();
    const candidates = open.map((workerId) => ({
      workerId,
      hitRate: hashes.length === 0 ? 0 : this.index.overlapBlocks(workerId, hashes) / hashes.length,
    }));
    const chosen = this.policy.pick(candidates);
    const decision: RouteDecision = { workerId: chosen.workerId, prefixHitRate: chosen.hitRate };
    this.metrics.router.decision(decision.workerId, this.config.router);
    getCurrentSpan()?.setAttributes({
      'threadline.router.worker_id': decision.workerId,
      'threadline.router.prefix_hit_rate': decision.prefixHitRate,
      'threadline.router.policy': this.config.router,
    });
    this.logger.log({ msg: `routed to ${decision.workerId}`, policy: this.config.router, ...decision });
    return decision;
  }
}
