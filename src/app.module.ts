import { Module } from '@nestjs/common';
import type { DynamicModule } from '@nestjs/common';
import type { Logger } from 'pino';
import type { AppConfig } from './config/app.config.js';
import { DemoModule } from './demo/demo.module.js';
import { RequestTracingModule } from './tracing/index.js';

/** The service: request tracing for everything, and the routes it serves. */
@Module({})
export class AppModule {
  static forRoot(config: AppConfig, logger: Logger): DynamicModule {
    return {
      module: AppModule,
      imports: [RequestTracingModule.forRoot({ ...config.tracing, logger }), DemoModule],
    };
  }
}
