import { Module } from '@nestjs/common';
import type { DynamicModule, ModuleMetadata } from '@nestjs/common';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { LogController } from 'fastify';
import type { FastifyInstance } from 'fastify';
import type { AddressInfo } from 'node:net';
import { createTracingLogger, RequestTracingModule, TracingLogger } from '@threadline/tracing';
import type { RequestTracingModuleOptions } from '@threadline/tracing';
import { LogCapture } from './log-capture.js';

export interface TestAppOptions extends ModuleMetadata {
  /** Options for `RequestTracingModule.forRoot()`; `logDestination` is always the capture. */
  tracing?: RequestTracingModuleOptions;
  /** Use this module instead of `RequestTracingModule.forRoot(tracing)` (e.g. a `forRootAsync` one). */
  tracingModule?: DynamicModule;
  /** Fastify's own per-request lines. */
  requestLogging?: boolean;
  /** Fastify options, e.g. a small `bodyLimit`. */
  fastify?: ConstructorParameters<typeof FastifyAdapter>[0];
  /** Called with the Fastify instance before Nest (and so RequestTracingModule) sets it up: hooks added here run first. */
  beforeInit?: (fastify: FastifyInstance) => void;
}

export interface TestApp {
  app: NestFastifyApplication;
  logs: LogCapture;
  /** `http://127.0.0.1:<port>` of the listening server. */
  url: string;
  port: number;
  close(): Promise<void>;
}

/**
 * Boots a Nest + Fastify app with RequestTracingModule the way `src/app.factory.ts` does (one pino
 * logger shared by Nest and Fastify), its log lines captured, listening on a free loopback port.
 */
export async function startTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const logs = new LogCapture();
  const tracing = { logLevel: 'debug' as const, ...options.tracing, logDestination: logs };
  const logger = createTracingLogger(tracing);
  const tracingModule = options.tracingModule ?? RequestTracingModule.forRoot({ ...tracing, logger });

  @Module({ imports: [tracingModule, ...(options.imports ?? [])], controllers: options.controllers, providers: options.providers })
  class TestRootModule {}

  const moduleRef = await Test.createTestingModule({ imports: [TestRootModule] }).compile();
  const logController = new LogController({ disableRequestLogging: options.requestLogging === false });
  const adapter = new FastifyAdapter({ loggerInstance: logger, logController, ...options.fastify });
  options.beforeInit?.(adapter.getInstance());
  const app = moduleRef.createNestApplication<NestFastifyApplication>(adapter, { bufferLogs: true });
  app.useLogger(app.get(TracingLogger));
  await app.listen(0, '127.0.0.1');
  const port = (app.getHttpServer().address() as AddressInfo).port;
  return { app, logs, port, url: `http://127.0.0.1:${port}`, close: () => app.close() };
}
