import { Module } from '@nestjs/common';
import type { DynamicModule } from '@nestjs/common';
import { RuntimeModule } from '../runtime/index.js';
import { FrontendModule } from './frontend/frontend.module.js';
import { LLM_CONFIG } from './llm.config.js';
import type { LlmConfig } from './llm.config.js';
import { PrefillComponent } from './prefill/prefill.component.js';
import { ProcessorComponent } from './processor/processor.component.js';
import { RouterComponent } from './router/router.component.js';
import { WorkerComponent } from './worker/worker.component.js';

/** Global so that every component, wherever the runtime creates it, can inject the config. */
@Module({})
class LlmConfigModule {
  static forRoot(config: LlmConfig): DynamicModule {
    return { module: LlmConfigModule, global: true, providers: [{ provide: LLM_CONFIG, useValue: config }], exports: [LLM_CONFIG] };
  }
}

/** The reference pipeline, Frontend → Processor → Router → Worker (→ Prefill), all in this process. */
@Module({})
export class LlmModule {
  static forRoot(config: LlmConfig): DynamicModule {
    return {
      module: LlmModule,
      imports: [
        LlmConfigModule.forRoot(config),
        RuntimeModule.forRoot({
          components: [ProcessorComponent, RouterComponent, WorkerComponent, PrefillComponent],
          serve: config.disagg.enabled ? undefined : [ProcessorComponent, RouterComponent, WorkerComponent],
          replicas: { worker: config.workers, prefill: config.disagg.prefillWorkers },
        }),
        FrontendModule,
      ],
    };
  }
}
