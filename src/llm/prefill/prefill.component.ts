import { Inject } from '@nestjs/common';
import { Component, ComponentEvents, Endpoint } from '@threadline/runtime';
import type { ComponentInstanceInfo, EndpointContext, OnComponentStart } from '@threadline/runtime';
import { PREFILL_LOAD_TOPIC } from '../kv/kv-events.js';
import type { KvEvent, PrefillLoad } from '../kv/kv-events.js';
import { LLM_CONFIG } from '../llm.config.js';
import type { LlmConfig } from '../llm.config.js';
import { MetricsService } from '../../observability/metrics/metrics.service.js';
import type { PrefillRequest, PrefillResult } from '../protocol/pipeline.types.js';
import { MockerEngine } from '../worker/mocker/mocker.engine.js';

/**
 * Disaggregated serving's prefill side: computes a prompt's KV cache on its own engine and hands it to
 * the Worker that asked, which then only decodes. Publishes its load so Workers can tell when its
 * queue is too long to be worth it.
 */
@Component({ name: 'prefill' })
export class PrefillComponent implements OnComponentStart {
  private engine!: MockerEngine;

  constructor(
    @Inject(LLM_CONFIG) private readonly config: LlmConfig,
    private readonly events: ComponentEvents,
    private readonly metrics: MetricsService,
  ) {}

  onComponentStart(info: ComponentInstanceInfo): void {
    const publishLoad = (event: KvEvent) => {
      const load: PrefillLoad = { workerId: info.instanceId, running: event.load.running, waiting: event.load.waiting };
      this.events.publish(PREFILL_LOAD_TOPIC, load);
    };
    this.engine = new MockerEngine(
      this.config.mocker,
      info.instanceId,
      publishLoad,
      this.metrics.worker(info.instanceId),
    );
  }

  @Endpoint()
  prefill(request: PrefillRequest, context: EndpointContext): Promise<PrefillResult> {
    return this.engine.prefill(request.tokenIds, context.signal, request.blocks);
  }
}
