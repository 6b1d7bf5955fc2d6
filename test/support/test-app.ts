import { Module } from '@nestjs/common';
import type { DynamicModule, INestApplication, ModuleMetadata } from '@nestjs/common';
import { ExpressAdapter } from '@nestjs/platform-express';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import type { TestingModule } from '@nestjs/testing';
import type { Express } from 'express';
import { LogController } from 'fastify';
import type { FastifyInstance } from 'fastify';
import type { AddressInfo } from 'node:net';
import { createTracingLogger, RequestTracingModule, TracingLogger } from '@threadline/tracing';
import type { RequestTracingModuleOptions } from '@threadline/tracing';
import { LogCapture } from './log-capture.js';

/** The HTTP platforms the tracing library runs on; the tracing e2e suite runs on each. */
export type Platform = 'fastify' | 'express';
export const PLATFORMS: readonly Platform[] = ['fastify', 'express'];

export interface TestAppOptions extends ModuleMetadata {
  /** @default 'fastify' */
  platform?: Platform;
  /** Options for `RequestTracingModule.forRoot()`; `logDestination` is always the capture. */
  tracing?: RequestTracingModuleOptions;
  /** Use this module instead of `RequestTracingModule.forRoot(tracing)` (e.g. a `forRootAsync` one). */
  tracingModule?: DynamicModule;
  /** The platform's per-request lines: Fastify's own, or the module's `accessLog` on Express. */
  requestLogging?: boolean;
  /** Fastify options, e.g. a small `bodyLimit` (Fastify only). */
  fastify?: ConstructorParameters<typeof FastifyAdapter>[0];
  /** Called with the Fastify instance before Nest (and so RequestTracingModule) sets it up: hooks added here run first. */
  beforeInit?: (fastify: FastifyInstance) => void;
  /** Called with the Express app before Nest sets it up, as `app.use()` in a main.ts would be. */
  beforeInitExpress?: (express: Express) => void;
  /** Called with the app before it listens, e.g. to set its server's timeouts (read when it starts listening). */
  beforeListen?: (app: INestApplication) => void;
}

export interface TestApp {
  platform: Platform;
  app: INestApplication;
  logs: LogCapture;
  /** `http://127.0.0.1:<port>` of the listening server. */
  url: string;
  port: number;
  /** The app as a Fastify app, for `inject()`; throws on Express. */
  fastify(): NestFastifyApplication;
  close(): Promise<void>;
}

/**
 * Boots a Nest app with RequestTracingModule on a free loopback port, its log lines captured. On
 * Fastify it shares one pino logger with Fastify as `src/app.factory.ts` does; on Express the module's
 * `accessLog` writes the request lines.
 */
export async function startTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const platform = options.platform ?? 'fastify';
  const logs = new LogCapture();
  const requestLogging = options.requestLogging !== false;
  const tracing: RequestTracingModuleOptions = {
    logLevel: 'debug',
    ...(platform === 'express' ? { accessLog: requestLogging } : {}),
    ...options.tracing,
    logDestination: logs,
  };
  const logger = createTracingLogger(tracing);
  const tracingModule = options.tracingModule ?? RequestTracingModule.forRoot({ ...tracing, logger });

  @Module({
    imports: [tracingModule, ...(options.imports ?? [])],
    controllers: options.controllers,
    providers: options.providers,
  })
  class TestRootModule {}

  const moduleRef = await Test.createTestingModule({ imports: [TestRootModule] }).compile();
  const app =
    platform === 'fastify'
      ? createFastifyApp(moduleRef, options, logger, requestLogging)
      : createExpressApp(moduleRef, options);
  app.useLogger(app.get(TracingLogger));
  options.beforeListen?.(app);
  await app.listen(0, '127.0.0.1');
  const port = (app.getHttpServer().address() as AddressInfo).port;
  const fastify = () => {
    if (platform !== 'fastify') throw new Error("inject() is Fastify's; this test app runs on Express");
    return app as NestFastifyApplication;
  };
  return { platform, app, logs, port, url: `http://127.0.0.1:${port}`, fastify, close: () => app.close() };
}

function createFastifyApp(
  moduleRef: TestingModule,
  options: TestAppOptions,
  logger: ReturnType<typeof createTracingLogger>,
  requestLogging: boolean,
): NestFastifyApplication {
  const logController = new LogController({ disableRequestLogging: !requestLogging });
  const adapter = new FastifyAdapter({ loggerInstance: logger, logController, ...options.fastify });
  options.beforeInit?.(adapter.getInstance());
  return moduleRef.createNestApplication<NestFastifyApplication>(adapter, { bufferLogs: true });
}

function createExpressApp(moduleRef: TestingModule, options: TestAppOptions): NestExpressApplication {
  const adapter = new ExpressAdapter();
  options.beforeInitExpress?.(adapter.getInstance<Express>());
  const app = moduleRef.createNestApplication<NestExpressApplication>(adapter, { bufferLogs: true });
  // Fastify's default body limit (1 MiB), where Express's is 100 kB: the suite sends bodies between the two.
  app.useBodyParser('json', { limit: '1mb' });
  return app;
}
