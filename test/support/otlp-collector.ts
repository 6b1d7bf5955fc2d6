import { createServer } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import protobuf from 'protobufjs';

/**
 * A real OTLP/HTTP endpoint for the tests: `POST /v1/traces` in http/json (parsed) or http/protobuf
 * (decoded with the part of the OTLP trace schema written below), gzipped or not, every span kept,
 * flattened, and each request's headers.
 */

/** One span as the collector received it. */
export interface CollectedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  name: string;
  /** OTLP's span kind: 1 internal, 2 server, 3 client. */
  kind: number;
  attributes: Record<string, unknown>;
  /** The resource's `service.name`. */
  serviceName: unknown;
  /** All the resource's attributes. */
  resource: Record<string, unknown>;
  /** The request's content type: which encoding it came in. */
  contentType: string;
}

export interface OtlpCollector {
  /** `http://127.0.0.1:<port>`: a value for OTEL_EXPORTER_OTLP_ENDPOINT. */
  url: string;
  spans: CollectedSpan[];
  /** How many export requests arrived, whatever they held. */
  requests: number;
  /** The HTTP headers of each export request, in the order they came. */
  requestHeaders: IncomingHttpHeaders[];
  /** The spans of one trace. */
  trace(traceId: string): CollectedSpan[];
  close(): Promise<void>;
}

// The OTLP trace schema, reduced to the fields the tests read; the field numbers are the schema's.
const SCHEMA = `
syntax = "proto3";
package otlp;
message ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }
message ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2; }
message Resource { repeated KeyValue attributes = 1; }
message ScopeSpans { repeated Span spans = 2; }
message Span {
  bytes trace_id = 1;
  bytes span_id = 2;
  bytes parent_span_id = 4;
  string name = 5;
  int32 kind = 6;
  repeated KeyValue attributes = 9;
}
message KeyValue { string key = 1; AnyValue value = 2; }
message AnyValue {
  oneof value {
    string string_value = 1;
    bool bool_value = 2;
    int64 int_value = 3;
    double double_value = 4;
  }
}
`;
const ExportRequest = protobuf.parse(SCHEMA, { keepCase: false }).root.lookupType('otlp.ExportTraceServiceRequest');

interface OtlpValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: string | number;
  doubleValue?: number;
}
interface OtlpKeyValue {
  key: string;
  value?: OtlpValue;
}
interface OtlpRequest {
  resourceSpans?: Array<{
    resource?: { attributes?: OtlpKeyValue[] };
    scopeSpans?: Array<{
      spans?: Array<{
        traceId: string;
        spanId: string;
        parentSpanId?: string;
        name: string;
        kind?: number;
        attributes?: OtlpKeyValue[];
      }>;
    }>;
  }>;
}

export async function startOtlpCollector(): Promise<OtlpCollector> {
  const spans: CollectedSpan[] = [];
  const collector: OtlpCollector = {
    url: '',
    spans,
    requests: 0,
    requestHeaders: [],
    trace: (traceId) => spans.filter((span) => span.traceId === traceId),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        res.writeHead(404).end();
        return;
      }
      collector.requests++;
      collector.requestHeaders.push(req.headers);
      const contentType = req.headers['content-type'] ?? '';
      try {
        const body = Buffer.concat(chunks);
        const unzipped = req.headers['content-encoding'] === 'gzip' ? gunzipSync(body) : body;
        spans.push(...flatten(decode(unzipped, contentType), contentType));
      } catch (error) {
        res.writeHead(400, { 'content-type': 'text/plain' }).end(String(error));
        return;
      }
      // An empty ExportTraceServiceResponse: full success, in either encoding.
      if (contentType.startsWith('application/json'))
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      else res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  collector.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return collector;
}

function decode(body: Buffer, contentType: string): OtlpRequest {
  if (contentType.startsWith('application/json')) return JSON.parse(body.toString('utf8')) as OtlpRequest;
  if (!contentType.startsWith('application/x-protobuf')) throw new Error(`unexpected content type ${contentType}`);
  // Bytes as base64 strings here; flatten() turns ids into hex, as OTLP/JSON writes them.
  const message = ExportRequest.decode(body);
  return ExportRequest.toObject(message, { longs: String, bytes: String });
}

function flatten(request: OtlpRequest, contentType: string): CollectedSpan[] {
  const json = contentType.startsWith('application/json');
  const id = (value: string | undefined) =>
    value === undefined || value === '' ? undefined : json ? value : Buffer.from(value, 'base64').toString('hex');
  return (request.resourceSpans ?? []).flatMap((resourceSpans) => {
    const resource = attributesOf(resourceSpans.resource?.attributes);
    const serviceName = resource['service.name'];
    return (resourceSpans.scopeSpans ?? []).flatMap((scope) =>
      (scope.spans ?? []).map((span) => ({
        traceId: id(span.traceId)!,
        spanId: id(span.spanId)!,
        parentSpanId: id(span.parentSpanId),
        name: span.name,
        kind: span.kind ?? 0,
        attributes: attributesOf(span.attributes),
        serviceName,
        resource,
        contentType,
      })),
    );
  });
}

function attributesOf(list: OtlpKeyValue[] | undefined): Record<string, unknown> {
  const attributes: Record<string, unknown> = {};
  for (const { key, value } of list ?? []) {
    attributes[key] =
      value?.stringValue ??
      value?.boolValue ??
      (value?.intValue === undefined ? undefined : Number(value.intValue)) ??
      value?.doubleValue;
  }
  return attributes;
}
