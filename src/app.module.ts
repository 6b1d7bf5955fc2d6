import { Module } from '@nestjs/common';
import type { DynamicModule } from '@nestjs/common';
import type { Logger } from 'pino';
import type { AppConfig } from './config/app.config.js';
import type { LlmConfig } from './llm/llm.config.js';
import { LlmModule } from './llm/llm.module.js';
import { RequestTracingModule } from '@threadline/tracing';
import { openAIClientErrorBody } from './http/openai-client-error-body.js';

/** The service: request tracing for everything, and the LLM pipeline. */
@Module({})
export class AppModule {
  static forRoot(config: AppConfig, llm: LlmConfig, logger: Logger): DynamicModule {
    return {
      module: AppModule,
      imports: [
        // What Node's HTTP server refuses on its own (bad HTTP, too large, too slow) gets an OpenAI body too.
        RequestTracingModule.forRoot({ ...config.tracing, logger, clientErrorBody: openAIClientErrorBody }),
        LlmModule.forRoot(llm, {
          components: config.runtime.components,
          allComponents: config.runtime.allComponents,
          transport: config.runtime.transport,
          nats: { url: config.runtime.natsUrl, shutdownGraceMs: config.runtime.shutdownGraceMs },
        }),
      ],
    };
  }
}
