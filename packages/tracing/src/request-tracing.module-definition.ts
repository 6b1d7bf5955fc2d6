import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { Logger } from 'pino';
import type { RequestTracingOptions } from './request-tracing.options.js';

/** `forRoot()` options: the tracing options, and optionally the pino logger to write to. @publicApi */
export interface RequestTracingModuleOptions extends RequestTracingOptions {
  /**
   * A logger made by `createTracingLogger()`, to share one stream with Fastify (`loggerInstance`).
   * @default one made from `logFormat`, `logLevel` and `logDestination`
   */
  logger?: Logger;
}

export const { ConfigurableModuleClass, MODULE_OPTIONS_TOKEN, OPTIONS_TYPE, ASYNC_OPTIONS_TYPE } =
  new ConfigurableModuleBuilder<RequestTracingModuleOptions>({ moduleName: 'RequestTracing' })
    .setClassMethodName('forRoot')
    .setExtras({ isGlobal: true }, (definition, extras) => ({ ...definition, global: extras.isGlobal }))
    .build();
