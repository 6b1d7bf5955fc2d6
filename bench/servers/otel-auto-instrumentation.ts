/**
 * OpenTelemetry's auto-instrumentation as a user would add it to a Nest app instead of Threadline,
 * loaded before the app with `node --import <this file> http-variant.js nest-otel`: the ESM loader hook
 * of `@opentelemetry/instrumentation`, a NodeTracerProvider whose BatchSpanProcessor sends to the OTLP
 * exporter (protobuf over HTTP, to OTEL_EXPORTER_OTLP_ENDPOINT), and the HTTP, Fastify and NestJS
 * instrumentations, all with their default options.
 *
 * On Nest 12 only the HTTP instrumentation makes spans, and that is what a user on Nest 12 gets:
 * `@opentelemetry/instrumentation-nestjs-core` patches `@nestjs/core` below 12 only, and
 * `@opentelemetry/instrumentation-fastify` replaces fastify's CommonJS exports, which Nest 12's
 * platform-fastify, an ES module importing `fastify`, never sees.
 */
import { register } from 'node:module';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { FastifyInstrumentation } from '@opentelemetry/instrumentation-fastify';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { NestInstrumentation } from '@opentelemetry/instrumentation-nestjs-core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, NodeTracerProvider } from '@opentelemetry/sdk-trace-node';

// The hook OpenTelemetry's documentation gives for ES modules; the CommonJS ones (Nest, Fastify) are
// patched through `require`.
register('@opentelemetry/instrumentation/hook.mjs', import.meta.url);

const provider = new NodeTracerProvider({
  resource: resourceFromAttributes({ 'service.name': process.env.OTEL_SERVICE_NAME ?? 'bench-nest-otel' }),
  spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())],
});
provider.register();
registerInstrumentations({
  instrumentations: [new HttpInstrumentation(), new FastifyInstrumentation(), new NestInstrumentation()],
});

/** Tells servers/http-variant.ts that it runs instrumented (it refuses `nest-otel` otherwise). */
(globalThis as Record<symbol, unknown>)[Symbol.for('threadline.bench.otel-auto')] = true;
