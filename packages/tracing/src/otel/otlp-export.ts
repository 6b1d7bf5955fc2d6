import { OTLPTraceExporter as JsonTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import type { CompressionAlgorithm, OTLPExporterNodeConfigBase } from '@opentelemetry/otlp-exporter-base';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import { setEntrySampler } from '../spans/span-context.js';
import { addSpanRecorder } from '../spans/span-recorders.js';
import type { FinishedSpan } from '../spans/span-types.js';
import { addSpanLogFields, createTracingLogger } from '../tracing-logger.factory.js';
import { tracingGlobals } from '../tracing.globals.js';
import { agentsTellingErrors } from './connection-errors.js';
import { FINAL_FLUSH_MAX_MS, ReportingSpanExporter } from './export-reporting.js';
import type { OtlpExportLogger } from './export-reporting.js';
import { readOtlpExportConfig } from './otlp-config.js';
import type { OtlpExportConfig } from './otlp-config.js';
import { createProtobufSpanExporter } from './otlp-protobuf-exporter.js';
import { toReadableSpan } from './readable-span.js';
import { createTraceSampler } from './trace-sampler.js';

/** @publicApi */
export interface OtlpExportOptions {
  /** The environment to read the standard variables from; `process.env` by default. */
  env?: NodeJS.ProcessEnv;
  /** What to export, already read (by `readOtlpExportConfig`); `env` is not read then. */
  config?: OtlpExportConfig;
  /** Spans not to export, whatever the sampler says: a health probe's or a metrics scrape's, say. */
  ignore?: (span: FinishedSpan) => boolean;
  /**
   * Where the export's own lines go (exports failing, then recovering; spans lost at shutdown): the
   * `RequestTracingModule`'s logger by default, else JSON lines on standard output.
   */
  logger?: OtlpExportLogger;
}

/** A running export. @publicApi */
export interface OtlpExport {
  /** Where spans go. */
  readonly config: OtlpExportConfig;
  /** Sends the spans ended so far. */
  forceFlush(): Promise<void>;
  /**
   * Stops taking spans, sends those ended so far, and closes the exporter. Never fails: it waits at most
   * 3 s (or the exporter's timeout, when shorter), and spans not sent by then, or whose export failed,
   * are counted in one warn line.
   */
  shutdown(): Promise<void>;
}

/**
 * Exports this process's spans over OTLP as the standard OpenTelemetry variables ask: `undefined`, with
 * nothing started, unless an endpoint is set (and `OTEL_SDK_DISABLED` is not `true`). A value that cannot
 * work throws an `OtlpConfigError` naming its variable. While export is on, log lines written in a span
 * carry `trace_id` and `span_id`.
 * @publicApi
 */
export function startOtlpExport(options: OtlpExportOptions = {}): OtlpExport | undefined {
  const config = options.config ?? readOtlpExportConfig(options.env);
  if (config === undefined) return undefined;
  const { batch, resourceAttributes, ...sending } = config.sdk ?? { batch: {} };
  const resource = defaultResource()
    .merge(resourceAttributes === undefined ? null : resourceFromAttributes(resourceAttributes))
    .merge(config.serviceName === undefined ? null : resourceFromAttributes({ 'service.name': config.serviceName }));
  const sendTo: OTLPExporterNodeConfigBase = {
    url: config.url,
    ...(sending.headers !== undefined && { headers: sending.headers }),
    ...(sending.timeoutMillis !== undefined && { timeoutMillis: sending.timeoutMillis }),
    ...(sending.compression !== undefined && { compression: sending.compression as CompressionAlgorithm }),
  };
  sendTo.httpAgentOptions = agentsTellingErrors(sendTo, (error) => exporter.connectionFailed(error));
  const sdkExporter: SpanExporter =
    config.protocol === 'http/json' ? new JsonTraceExporter(sendTo) : createProtobufSpanExporter(sendTo);
  let ownLogger: OtlpExportLogger | undefined;
  const logger = () => options.logger ?? tracingGlobals.logger ?? (ownLogger ??= createTracingLogger());
  const exporter = new ReportingSpanExporter(sdkExporter, logger, config.url);
  const processor = new BatchSpanProcessor(exporter, batch);
  // The sampler decides where a request enters this process, and the spans carry its decision (passed
  // on in their traceparent): a trace is decided once, where it starts, for every process it reaches.
  const removeSampler = setEntrySampler(createTraceSampler(config));
  const removeRecorder = addSpanRecorder({
    onEnd(span: FinishedSpan): void {
      if (span.sampled === false || options.ignore?.(span) === true) return;
      processor.onEnd(toReadableSpan(span, resource));
    },
  });
  const removeLogFields = addSpanLogFields();
  let stopped: Promise<void> | undefined;
  return {
    config,
    forceFlush: () => processor.forceFlush(),
    shutdown: () =>
      (stopped ??= (async () => {
        removeSampler();
        removeRecorder();
        removeLogFields();
        await boundedFinalFlush(processor, exporter, Math.min(FINAL_FLUSH_MAX_MS, sending.timeoutMillis ?? 10_000));
      })()),
  };
}

/** Sends what is left, waiting `waitMs` at most; what could not be sent is logged, not thrown. */
async function boundedFinalFlush(
  processor: BatchSpanProcessor,
  exporter: ReportingSpanExporter,
  waitMs: number,
): Promise<void> {
  exporter.beginFinalFlush();
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timed out'>((resolve) => {
    timer = setTimeout(() => resolve('timed out'), waitMs);
  });
  let failure: unknown;
  try {
    await Promise.race([processor.shutdown(), timedOut]);
  } catch (error) {
    failure = error;
  } finally {
    clearTimeout(timer);
  }
  exporter.endFinalFlush(waitMs, failure);
}
