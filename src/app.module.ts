import { Module } from '@nestjs/common';
import type { DynamicModule } from '@nestjs/common';
import type { Logger } from 'pino';
import type { AppConfig } from './config/app.config.js';
import type { LlmConfig } from './llm/llm.config.js';
import { LlmModule, readinessEntryPoints, readinessOptional } from './llm/llm.module.js';
import { RequestTracingModule } from '@threadline/tracing';
import { openAIClientErrorBody } from './http/openai-client-error-body.js';
import { HealthModule } from './observability/health/health.module.js';
import { MetricsModule } from './observability/metrics/metrics.module.js';
import { TimelineModule } from './observability/timeline/timeline.module.js';

/** The service: request tracing for everything, its metrics, the LLM pipeline, its request timeline, and its readiness. */
@Module({})
export class AppModule {
  static forRoot(config: AppConfig, llm: LlmConfig, logger: Logger): DynamicModule {
    return {
      module: AppModule,
      imports: [
        // What Node's HTTP server refuses on its own (bad HTTP, too large, too slow) gets an OpenAI body too.
        RequestTracingModule.forRoot({ ...config.tracing, logger, clientErrorBody: openAIClientErrorBody }),
        MetricsModule.forRoot({ port: config.metricsPort, host: config.host }),
        LlmModule.forRoot(llm, {
          components: config.runtime.components,
          allComponents: config.runtime.allComponents,
          transport: config.runtime.transport,
          nats: {
            url: config.runtime.natsUrl,
            shutdownGraceMs: config.runtime.shutdownGraceMs,
            ...(!config.runtime.streamPacing && { pacing: false as const }),
          },
        }),
        TimelineModule.forRoot({ ...config.timeline, components: config.runtime.components }),
        HealthModule.forRoot({
          entryPoints: readinessEntryPoints(config.runtime.components),
          optional: readinessOptional(llm),
          http: config.runtime.components.includes('frontend'),
        }),
      ],
    };
  }
}
