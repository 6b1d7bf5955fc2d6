import { OTLPExporterBase } from '@opentelemetry/otlp-exporter-base';
import type { OTLPExporterNodeConfigBase } from '@opentelemetry/otlp-exporter-base';
import { convertLegacyHttpOptions, createOtlpHttpExportDelegate } from '@opentelemetry/otlp-exporter-base/node-http';
import { ProtobufTraceSerializer, TraceExporterMetricsHelper } from '@opentelemetry/otlp-transformer';
import type { IExportTraceServiceResponse, ISerializer } from '@opentelemetry/otlp-transformer';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { FinishedSpan } from '../spans/span-types.js';
import { encodeExportTraceRequest } from './otlp-protobuf-request.js';
import { finishedSpanOf } from './readable-span.js';

/** The component type the SDK's exporters give their own metrics (none are recorded: no meter provider). */
const COMPONENT_TYPE = 'otlp_http_span_exporter';

/**
 * An OTLP/HTTP exporter in protobuf: what `@opentelemetry/exporter-trace-otlp-proto` builds (the SDK's
 * transport, with its retries, timeouts, compression and OTEL_EXPORTER_OTLP_* settings), with one part
 * changed, the serializer: Threadline's spans are encoded from their own fields (see
 * `encodeExportTraceRequest`). Any other span goes to the SDK's serializer, and so does the answer.
 */
export function createProtobufSpanExporter(config: OTLPExporterNodeConfigBase): SpanExporter {
  const options = convertLegacyHttpOptions(config, 'TRACES', 'v1/traces', {
    'Content-Type': 'application/x-protobuf',
  });
  return new OTLPExporterBase(
    createOtlpHttpExportDelegate(options, spanSerializer, COMPONENT_TYPE, TraceExporterMetricsHelper, undefined),
  );
}

const spanSerializer: ISerializer<ReadableSpan[], IExportTraceServiceResponse> = {
  serializeRequest(spans: ReadableSpan[]): Uint8Array | undefined {
    const first = spans[0];
    const finished: FinishedSpan[] = [];
    for (const span of spans) {
      const own = finishedSpanOf(span);
      // One request holds one resource and one scope as this encodes it: every span must share them.
      if (own === undefined || span.resource !== first!.resource) break;
      if (span.instrumentationScope !== first!.instrumentationScope) break;
      finished.push(own);
    }
    const encoded =
      first !== undefined && finished.length === spans.length
        ? encodeExportTraceRequest(finished, first.resource, first.instrumentationScope)
        : undefined;
    return encoded ?? ProtobufTraceSerializer.serializeRequest(spans);
  },
  deserializeResponse: (data: Uint8Array) => ProtobufTraceSerializer.deserializeResponse(data),
};
