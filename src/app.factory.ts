import { NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { LogController } from 'fastify';
import fastifyCors from '@fastify/cors';
import { AppModule } from './app.module.js';
import type { AppConfig } from './config/app.config.js';
import { apiCorsOnFrameworkErrors, apiCorsOptions } from './http/api-cors.js';
import type { LlmConfig } from './llm/llm.config.js';
import { applyHttpLimits, requestTimeoutOptions } from './http/http-limits.js';
import { installJsonBodyParser } from './http/json-body-parser.js';
import { installHostCheck } from './http/host-check.js';
import { HttpShutdownGrace } from './http/shutdown-grace.js';
import { createTracingLogger, TracingLogger } from '@threadline/tracing';
import type { OtlpExport, OtlpExportLogger } from '@threadline/tracing/otel';
import { isServiceSelfRequest } from './observability/service-self-requests.js';

/** Builds the application `npm start` serves (tests build the same one), initialised, not yet listening. */
export async function createApp(config: AppConfig, llm: LlmConfig): Promise<NestFastifyApplication> {
  const logger = createTracingLogger(config.tracing);
  const traces = await startTraceExport(config, logger);
  const logController = new LogController({ disableRequestLogging: !config.requestLogging });
  const timeouts = requestTimeoutOptions(config.httpLimits);
  const adapter = new FastifyAdapter({
    loggerInstance: logger,
    logController,
    bodyLimit: config.bodyLimit,
    // A request id of the policy's longest fits a path parameter (the timeline looks requests up by id),
    // percent-encoded: three characters for each of its bytes.
    routerOptions: { maxParamLength: 3 * config.tracing.maxLength },
    frameworkErrors: apiCorsOnFrameworkErrors(config.corsOrigins, config.tracing.header),
    ...timeouts,
    // An HTTP/1.1 request without Host is refused by `installHostCheck`, with an error body and the
    // request's id, rather than by Node with a bare 400.
    http: { ...timeouts.http, requireHostHeader: false },
  });
  applyHttpLimits(adapter.getInstance(), config.httpLimits, llm.retryAfterSeconds);
  installJsonBodyParser(adapter, config.bodyLimit);
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(config, llm, logger), adapter, {
    bufferLogs: true,
    // JSON alone (installed above): a form body gets a 415, not parsed into fields named by its text, and
    // a page of another origin cannot start a generation with a form post, which needs no preflight.
    bodyParser: false,
  }).catch(async (error: unknown) => {
    await traces?.shutdown();
    throw error;
  });
  const grace = new HttpShutdownGrace(config.runtime.shutdownGraceMs, llm.retryAfterSeconds, logger);
  aroundClose(
    app,
    () => grace.drain(),
    () => traces?.shutdown(),
  );
  app.useLogger(app.get(TracingLogger));
  // From here on lines go out as they are written: a start-up that waits (for NATS, say) must say so.
  app.flushLogs();
  // Initialised here so that CORS comes after the request-id hook, which the tracing module adds as the
  // app initialises: a preflight, answered by the CORS hook itself, then carries the id too.
  await app.init().catch(async (error: unknown) => {
    await traces?.shutdown();
    throw error;
  });
  installHostCheck(adapter.getInstance(), config.allowedHosts);
  void adapter.getInstance().register(fastifyCors, apiCorsOptions(config.corsOrigins, config.tracing.header));
  grace.install(adapter.getInstance());
  return app;
}

/**
 * Runs `before` ahead of the app's close (the HTTP requests drained), and `after` once it has closed,
 * whether or not closing failed. Nest closes the HTTP server before it runs the shutdown hooks, and the
 * components drain their calls in theirs: the span export must stop after both, or the spans of the
 * calls drained at shutdown are lost (in a process without HTTP, the server's close is immediate).
 */
function aroundClose(
  app: NestFastifyApplication,
  before: () => Promise<void>,
  after: () => Promise<void> | undefined,
): void {
  // The app is a proxy that ignores assignments to its methods and looks them up on each call: the
  // wrapper is defined on it, around the class's own close.
  type Close = (this: NestFastifyApplication, ...args: Parameters<NestFastifyApplication['close']>) => Promise<void>;
  const { close } = Object.getPrototypeOf(app) as { close: Close };
  async function drainCloseStop(this: NestFastifyApplication, ...args: Parameters<Close>): Promise<void> {
    try {
      await before();
      await close.apply(this, args);
    } finally {
      await after();
    }
  }
  Object.defineProperty(app, 'close', { value: drainCloseStop, configurable: true, writable: true });
}

/**
 * Starts exporting spans when the OTEL_* variables ask for it. OpenTelemetry is loaded only then: a
 * service that exports nothing never loads it.
 */
async function startTraceExport(config: AppConfig, logger: OtlpExportLogger): Promise<OtlpExport | undefined> {
  if (config.traces === undefined) return undefined;
  const { startOtlpExport } = await import('@threadline/tracing/otel');
  return startOtlpExport({ config: config.traces, ignore: isServiceSelfRequest, logger });
}
