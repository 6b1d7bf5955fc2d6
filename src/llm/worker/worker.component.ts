import { Inject } from '@nestjs/common';
import { Component, Endpoint } from '../../runtime/index.js';
import type { ComponentInstanceInfo, EndpointContext, OnComponentStart, OnComponentStop } from '../../runtime/index.js';
import { LLM_CONFIG } from '../llm.config.js';
import type { LlmConfig } from '../llm.config.js';
import type { GenerateOutput, GenerateRequest } from '../protocol/pipeline.types.js';
import { createEngine } from './engine.factory.js';
import type { LlmEngine } from './llm-engine.js';

/** Runs one engine and streams the tokens it generates; several instances give the Router a choice. */
@Component({ name: 'worker' })
export class WorkerComponent implements OnComponentStart, OnComponentStop {
  private engine!: LlmEngine;

  constructor(@Inject(LLM_CONFIG) private readonly config: LlmConfig) {}

  onComponentStart(info: ComponentInstanceInfo): void {
    this.engine = createEngine(this.config, info.instanceId);
  }

  async onComponentStop(): Promise<void> {
    await this.engine.close();
  }

  @Endpoint()
  generate(request: GenerateRequest, context: EndpointContext): AsyncIterable<GenerateOutput> {
    return this.engine.generate(request, context.signal);
  }
}
