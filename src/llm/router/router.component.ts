import { Inject, Logger } from '@nestjs/common';
import { Component, Endpoint, InjectComponent } from '../../runtime/index.js';
import type { ComponentClient } from '../../runtime/index.js';
import { LLM_CONFIG } from '../llm.config.js';
import type { LlmConfig } from '../llm.config.js';
import { InvalidRequestError } from '../protocol/invalid-request.error.js';
import type { RouteDecision, RouteRequest } from '../protocol/pipeline.types.js';
import { WorkerComponent } from '../worker/worker.component.js';
import { createRoutingPolicy } from './routing-policy.js';
import type { RoutingPolicy } from './routing-policy.js';

/** Chooses the worker for each request, by the configured policy, among the workers running now. */
@Component({ name: 'router' })
export class RouterComponent {
  private readonly logger = new Logger(RouterComponent.name);
  private readonly policy: RoutingPolicy;

  constructor(
    @Inject(LLM_CONFIG) private readonly config: LlmConfig,
    @InjectComponent(WorkerComponent) private readonly workers: ComponentClient<WorkerComponent>,
  ) {
    this.policy = createRoutingPolicy(config.router);
  }

  @Endpoint()
  async route(_request: RouteRequest): Promise<RouteDecision> {
    const candidates = await this.workers.instances();
    if (candidates.length === 0) throw new InvalidRequestError('No worker is available.', undefined, 503, 'no_worker_available');
    const decision = { workerId: this.policy.pick(candidates), prefixHitRate: 0 };
    this.logger.debug({ msg: `routed to ${decision.workerId}`, policy: this.config.router, ...decision });
    return decision;
  }
}
