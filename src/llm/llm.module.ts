import { Module } from '@nestjs/common';
import type { DynamicModule } from '@nestjs/common';
import { RuntimeModule } from '@threadline/runtime';
import type { NatsOptions, TransportKind } from '@threadline/runtime';
import { FrontendController } from './frontend/frontend.controller.js';
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
    return {
      module: LlmConfigModule,
      global: true,
      providers: [{ provide: LLM_CONFIG, useValue: config }],
      exports: [LLM_CONFIG],
    };
  }
}

/** Where the pipeline's components run: which of them this process serves, and over what. */
export interface LlmPlacement {
  /** The components this process runs, by name (`frontend`, `processor`, `router`, `worker`, `prefill`). */
  components: readonly string[];
  /** Every component was asked for (`all`): Prefill then runs only when disaggregation is on. */
  allComponents: boolean;
  transport: TransportKind;
  nats: NatsOptions;
}

const COMPONENTS = {
  processor: ProcessorComponent,
  router: RouterComponent,
  worker: WorkerComponent,
  prefill: PrefillComponent,
};

/**
 * What a process's requests enter by, besides the components it serves, for readiness to follow their
 * `@InjectComponent()`s: the Frontend's controller.
 */
export function readinessEntryPoints(components: readonly string[]): object[] {
  return components.includes('frontend') ? [FrontendController] : [];
}

/**
 * The components readiness reports without needing them, with what their absence means: Prefill when
 * disaggregation is on (the Worker declares it optional: without it, it prefills long prompts itself).
 */
export function readinessOptional(config: LlmConfig): Record<string, string> {
  return config.disagg.enabled
    ? {
        prefill: 'remote prefill unavailable: no live instance of prefill; the workers prefill long prompts themselves',
      }
    : {};
}

/** The reference pipeline, Frontend → Processor → Router → Worker (→ Prefill): in one process or several. */
@Module({})
export class LlmModule {
  static forRoot(config: LlmConfig, placement: LlmPlacement): DynamicModule {
    const serve = Object.entries(COMPONENTS)
      .filter(([name]) => placement.components.includes(name))
      .filter(([name]) => !(name === 'prefill' && placement.allComponents && !config.disagg.enabled))
      .map(([, component]) => component);
    return {
      module: LlmModule,
      imports: [
        LlmConfigModule.forRoot(config),
        RuntimeModule.forRoot({
          components: Object.values(COMPONENTS),
          serve,
          replicas: { worker: config.workers, prefill: config.disagg.prefillWorkers },
          transport: placement.transport,
          nats: placement.nats,
        }),
        ...(placement.components.includes('frontend') ? [FrontendModule] : []),
      ],
    };
  }
}
