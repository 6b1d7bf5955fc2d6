import { NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { LogController } from 'fastify';
import { AppModule } from './app.module.js';
import type { AppConfig } from './config/app.config.js';
import type { LlmConfig } from './llm/llm.config.js';
import { applyHttpLimits, requestTimeoutOptions } from './http/http-limits.js';
import { createTracingLogger, TracingLogger } from '@threadline/tracing';
import type { OtlpExport } from '@threadline/tracing/otel';

/** Builds the application `npm start` serves (tests build the same one), not yet listening. */
export async function createApp(config: AppConfig, llm: LlmConfig): Promise<NestFastifyApplication> {
  const traces = await startTraceExport(config);
  const logger = createTracingLogger(config.tracing);
  const logController = new LogController({ disableRequestLogging: !config.requestLogging });
  const adapter = new FastifyAdapter({
    loggerInstance: logger,
    logController,
    bodyLimit: config.bodyLimit,
    ...requestTimeoutOptions(config.httpLimits),
  });
  applyHttpLimits(adapter.getInstance(), config.httpLimits, llm.retryAfterSeconds);
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(config, llm, logger), adapter, {
    bufferLogs: true,
  }).catch(async (error: unknown) => {
    await traces?.shutdown();
    throw error;
  });
  // Nest closes the HTTP server last, after its shutdown hooks: the spans of the calls drained while the
  // app closes go out too. A process that serves no HTTP closes the (idle) server all the same.
  if (traces !== undefined) adapter.getInstance().addHook('onClose', () => traces.shutdown());
  app.useLogger(app.get(TracingLogger));
  // From here on lines go out as they are written: a start-up that waits (for NATS, say) must say so.
  app.flushLogs();
  return app;
}

/**
 * Starts exporting spans when the OTEL_* variables ask for it. OpenTelemetry is loaded only then: a
 * service that exports nothing never loads it.
 */
async function startTraceExport(config: AppConfig): Promise<OtlpExport | undefined> {
  if (config.traces === undefined) return undefined;
  const { startOtlpExport } = await import('@threadline/tracing/otel');
  return startOtlpExport({ config: config.traces });
}
