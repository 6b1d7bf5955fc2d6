import { Controller, Get, Logger } from '@nestjs/common';
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startOtlpExport } from '@threadline/tracing/otel';
import type { OtlpExport } from '@threadline/tracing/otel';
import { startOtlpCollector } from '../support/otlp-collector.js';
import type { OtlpCollector } from '../support/otlp-collector.js';
import { PLATFORMS, startTestApp } from '../support/test-app.js';
import type { TestApp } from '../support/test-app.js';
import { waitUntil } from '../support/wait-for.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const CALLER_SPAN = '00f067aa0ba902b7';

@Controller()
class TracedController {
  @Get('work')
  work() {
    new Logger('Work').log('working');
    return { ok: true };
  }
}

/** A caller's `traceparent`, sampled unless `flags` says otherwise. */
function traceparent(traceId = TRACE_ID, flags = '01'): string {
  return `00-${traceId}-${CALLER_SPAN}-${flags}`;
}

describe('OTLP export of the spans (@threadline/tracing/otel)', () => {
  let collector: OtlpCollector;
  let running: OtlpExport | undefined;
  let app: TestApp | undefined;
  beforeAll(async () => {
    collector = await startOtlpCollector();
  });
  afterEach(async () => {
    await app?.close();
    await running?.shutdown();
    app = undefined;
    running = undefined;
  });
  afterAll(() => collector.close());

  async function serve(env: NodeJS.ProcessEnv, platform: (typeof PLATFORMS)[number] = 'fastify') {
    running = startOtlpExport({ env });
    app = await startTestApp({ platform, controllers: [TracedController] });
    return app;
  }

  async function get(id: string, headers: Record<string, string> = {}): Promise<void> {
    const res = await fetch(`${app!.url}/work`, { headers: { 'x-request-id': id, ...headers } });
    expect(res.status).toBe(200);
  }

  for (const platform of PLATFORMS) {
    for (const protocol of ['http/protobuf', 'http/json']) {
      it(`exports a ${platform} request's span in ${protocol}: the caller's trace, x_request_id, service.name`, async () => {
        const traceId = protocol === 'http/json' ? TRACE_ID : TRACE_ID.replace(/^4/, '5');
        await serve(
          {
            OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
            OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
            OTEL_SERVICE_NAME: `otlp-${platform}`,
          },
          platform,
        );
        const id = `otlp-${platform}-${protocol}`;
        await get(id, { traceparent: traceparent(traceId) });
        await running!.forceFlush();
        const spans = collector.trace(traceId).filter((span) => span.attributes.x_request_id === id);
        expect(spans.length).toBeGreaterThan(0);
        expect(spans.every((span) => span.serviceName === `otlp-${platform}`)).toBe(true);
        expect(
          spans.every((span) =>
            span.contentType.startsWith(protocol === 'http/json' ? 'application/json' : 'application/x-protobuf'),
          ),
        ).toBe(true);
        // The request's first span is the caller's child.
        expect(spans.some((span) => span.parentSpanId === CALLER_SPAN)).toBe(true);
        // Its log line leads to the span it was written in.
        const line = app!.logs.forRequest(id).find((entry) => entry.msg === 'working');
        expect(line?.trace_id).toBe(traceId);
        expect(spans.map((span) => span.spanId)).toContain(line?.span_id);
        // So do the request's access lines, the first one written before any hook of the app ran.
        const access = app!.logs
          .forRequest(id)
          .filter((entry) => /^(incoming request|request completed)$/.test(String(entry.msg)));
        expect(access.map((entry) => entry.msg)).toEqual(['incoming request', 'request completed']);
        for (const entry of access) {
          expect(entry.trace_id).toBe(traceId);
          expect(spans.map((span) => span.spanId)).toContain(entry.span_id);
        }
      });
    }
  }

  it('starts nothing and adds no trace ids to log lines without an endpoint', async () => {
    await serve({ OTEL_SERVICE_NAME: 'no-endpoint' });
    expect(running).toBeUndefined();
    const before = collector.requests;
    await get('otlp-off', { traceparent: traceparent() });
    const line = app!.logs.forRequest('otlp-off').find((entry) => entry.msg === 'working');
    expect(line).toBeDefined();
    expect(line).not.toHaveProperty('trace_id');
    expect(collector.requests).toBe(before);
  });

  it('starts nothing with OTEL_SDK_DISABLED=true, an endpoint set or not', async () => {
    await serve({ OTEL_EXPORTER_OTLP_ENDPOINT: collector.url, OTEL_SDK_DISABLED: 'TRUE' });
    expect(running).toBeUndefined();
    const before = collector.requests;
    await get('otlp-disabled', { traceparent: traceparent() });
    expect(collector.requests).toBe(before);
  });

  it('sends nothing with OTEL_TRACES_SAMPLER=always_off', async () => {
    await serve({ OTEL_EXPORTER_OTLP_ENDPOINT: collector.url, OTEL_TRACES_SAMPLER: 'always_off' });
    const before = collector.requests;
    await get('otlp-always-off', { traceparent: traceparent() });
    await running!.forceFlush();
    expect(collector.requests).toBe(before);
    expect(collector.spans.filter((span) => span.attributes.x_request_id === 'otlp-always-off')).toEqual([]);
  });

  it('follows the caller: parentbased_always_on drops a trace the caller did not sample', async () => {
    const unsampled = '6bf92f3577b34da6a3ce929d0e0e4736';
    await serve({ OTEL_EXPORTER_OTLP_ENDPOINT: collector.url });
    await get('otlp-unsampled', { traceparent: traceparent(unsampled, '00') });
    await get('otlp-sampled', { traceparent: traceparent() });
    await running!.forceFlush();
    expect(collector.trace(unsampled)).toEqual([]);
    expect(collector.spans.some((span) => span.attributes.x_request_id === 'otlp-sampled')).toBe(true);
  });

  it('decides traceidratio on the trace id alone, the same for every process', async () => {
    // The SDK's ratio sampler keeps a trace whose id folds to a number under ratio × 2³²; these two lie on either side of one half.
    await serve({
      OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
      OTEL_TRACES_SAMPLER: 'traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '0.5',
    });
    const low = '00000000000000000000000000000001';
    const high = 'f0000000000000000000000000000000';
    await get('otlp-ratio-low', { traceparent: traceparent(low, '00') });
    await get('otlp-ratio-high', { traceparent: traceparent(high) });
    await running!.forceFlush();
    expect(collector.trace(low).length).toBeGreaterThan(0);
    expect(collector.trace(high)).toEqual([]);
  });

  for (const protocol of ['http/protobuf', 'http/json']) {
    it(`sends the headers, compression and batches the SDK's own variables ask for, in ${protocol}`, async () => {
      await serve({
        OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
        OTEL_EXPORTER_OTLP_HEADERS: 'x-tenant=acme, authorization=Bearer%20t0k3n',
        // An enum value, read case-insensitively as the specification says.
        OTEL_EXPORTER_OTLP_TRACES_COMPRESSION: protocol === 'http/json' ? 'GZIP' : 'gzip',
        OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '2',
        OTEL_BSP_SCHEDULE_DELAY: '60000',
      });
      const ids = [`sdk-vars-${protocol}-1`, `sdk-vars-${protocol}-2`];
      for (const id of ids) await get(id);
      // Batches of two go when they are full, long before the scheduled delay.
      const arrived = () => ids.every((id) => collector.spans.some((span) => span.attributes.x_request_id === id));
      await waitUntil(arrived, 5000);
      expect(collector.requestHeaders.at(-1)).toMatchObject({
        'x-tenant': 'acme',
        authorization: 'Bearer t0k3n',
        'content-encoding': 'gzip',
      });
    });
  }

  it('describes the resource with OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME winning for service.name', async () => {
    await serve({
      OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
      OTEL_RESOURCE_ATTRIBUTES:
        'deployment.environment=staging, service.version=1.2.3,service.name=overridden,team=serving%20%26%20ops',
      OTEL_SERVICE_NAME: 'frontend-eu',
    });
    await get('resource-attributes');
    await running!.forceFlush();
    const span = collector.spans.find((one) => one.attributes.x_request_id === 'resource-attributes');
    expect(span?.resource).toMatchObject({
      'deployment.environment': 'staging',
      'service.version': '1.2.3',
      'service.name': 'frontend-eu',
      team: 'serving & ops',
    });
  });

  it('takes a queue smaller than the default batch as the batch, and names both values when a batch is larger', async () => {
    const env = { OTEL_EXPORTER_OTLP_ENDPOINT: collector.url, OTEL_BSP_MAX_QUEUE_SIZE: '100' };
    const small = startOtlpExport({ env })!;
    expect(small.config.sdk?.batch).toEqual({ maxQueueSize: 100, maxExportBatchSize: 100 });
    await small.shutdown();
    expect(() => startOtlpExport({ env: { ...env, OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '200' } })).toThrow(
      `OTEL_BSP_MAX_EXPORT_BATCH_SIZE must be at most the queue's size (OTEL_BSP_MAX_QUEUE_SIZE, 100), got "200"`,
    );
  });

  it('says when exports fail (the first failure, then at most a line a minute) and when they recover', async () => {
    // A real endpoint that refuses every export (400, which the SDK does not retry) until told otherwise.
    let refusing = true;
    const sink = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        if (refusing) res.writeHead(400, { 'content-type': 'text/plain' }).end('no');
        else res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
      });
    });
    await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
    const where = `127.0.0.1:${(sink.address() as AddressInfo).port}`;
    try {
      // Credentials in the endpoint's URL are the collector's business: the lines do not show them.
      await serve({ OTEL_EXPORTER_OTLP_ENDPOINT: `http://user:s3cret@${where}`, OTEL_BSP_SCHEDULE_DELAY: '60000' });
      const exportLines = () => app!.logs.lines.filter((line) => line.context === 'OtlpExport');
      for (const id of ['export-fails-1', 'export-fails-2', 'export-fails-3']) {
        await get(id);
        await expect(running!.forceFlush()).rejects.toThrow();
      }
      // One line for the first failure; the next two wait for the minute to pass.
      expect(exportLines()).toEqual([
        expect.objectContaining({
          level: 40,
          msg: 'span export failed: spans dropped',
          exportUrl: `http://***@${where}/v1/traces`,
          failedExports: 1,
          failedSpans: 1,
        }),
      ]);
      expect(exportLines()[0]!.error).toContain('Bad Request');
      expect(JSON.stringify(app!.logs.lines)).not.toContain('s3cret');
      // Written outside any request's context: no request's id or trace on it.
      expect(exportLines()[0]).not.toHaveProperty('requestId');
      expect(exportLines()[0]).not.toHaveProperty('trace_id');
      refusing = false;
      await get('export-recovers');
      await running!.forceFlush();
      expect(exportLines().slice(1)).toEqual([
        expect.objectContaining({ level: 30, msg: 'span export recovered', failedExports: 2, failedSpans: 2 }),
      ]);
    } finally {
      await app?.close();
      app = undefined;
      await running?.shutdown();
      running = undefined;
      sink.closeAllConnections();
      await new Promise<void>((resolve) => sink.close(() => resolve()));
    }
  });

  for (const [what, env] of [
    ['no endpoint set', {}],
    ['OTEL_SDK_DISABLED=true', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318', OTEL_SDK_DISABLED: 'true' }],
  ] as const) {
    it(`checks every variable with ${what}: a typo does not wait for the day export is turned on`, () => {
      const typos: Array<[string, string]> = [
        ['OTEL_TRACES_SAMPLER', 'bogus'],
        ['OTEL_BSP_SCHEDULE_DELAY', 'abc'],
        ['OTEL_EXPORTER_OTLP_HEADERS', 'api-key'],
        ['OTEL_EXPORTER_OTLP_PROTOCOL', 'grpc'],
      ];
      for (const [variable, bad] of typos) {
        expect(() => startOtlpExport({ env: { ...env, [variable]: bad } }), variable).toThrow(
          new RegExp(`^${variable} must be`),
        );
      }
      // The argument is checked whatever the sampler, though only the ratio samplers read it.
      expect(() =>
        startOtlpExport({ env: { ...env, OTEL_TRACES_SAMPLER: 'always_on', OTEL_TRACES_SAMPLER_ARG: 'abc' } }),
      ).toThrow(/^OTEL_TRACES_SAMPLER_ARG must be a number from 0 to 1/);
      expect(
        startOtlpExport({ env: { ...env, OTEL_TRACES_SAMPLER: 'ALWAYS_ON', OTEL_BSP_SCHEDULE_DELAY: '100' } }),
      ).toBeUndefined();
    });
  }

  for (const [variable, value] of [
    ['OTEL_EXPORTER_OTLP_PROTOCOL', 'grpc'],
    ['OTEL_TRACES_SAMPLER', 'sometimes'],
    ['OTEL_TRACES_SAMPLER_ARG', '1.5'],
    ['OTEL_EXPORTER_OTLP_ENDPOINT', 'not a url'],
    ['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', 'ftp://127.0.0.1/v1/traces'],
    // The SDK's own variables: it would fall back to its default, and nothing would say so.
    ['OTEL_BSP_SCHEDULE_DELAY', 'soon'],
    ['OTEL_BSP_EXPORT_TIMEOUT', '-1'],
    ['OTEL_BSP_MAX_QUEUE_SIZE', '0'],
    ['OTEL_BSP_MAX_EXPORT_BATCH_SIZE', '4096'],
    // Past what a Node timer waits: it would fire at once, with a warning.
    ['OTEL_BSP_SCHEDULE_DELAY', '3000000000'],
    ['OTEL_EXPORTER_OTLP_TIMEOUT', '2147483648'],
    ['OTEL_EXPORTER_OTLP_TIMEOUT', '10s'],
    ['OTEL_EXPORTER_OTLP_TRACES_TIMEOUT', '0'],
    ['OTEL_EXPORTER_OTLP_COMPRESSION', 'zstd'],
    ['OTEL_EXPORTER_OTLP_TRACES_COMPRESSION', 'brotli'],
    ['OTEL_EXPORTER_OTLP_HEADERS', 'api-key'],
    ['OTEL_EXPORTER_OTLP_HEADERS', 'tenant=acme,=orphan'],
    ['OTEL_EXPORTER_OTLP_TRACES_HEADERS', 'bad header=1'],
    ['OTEL_EXPORTER_OTLP_TRACES_HEADERS', 'token=%E0%A4%A'],
    // Values Node's HTTP client refuses to send, once decoded: every export would fail, without a word.
    ['OTEL_EXPORTER_OTLP_HEADERS', 'x-k=%E2%82%AC'],
    ['OTEL_EXPORTER_OTLP_HEADERS', 'x-k=a%01b'],
    ['OTEL_EXPORTER_OTLP_TRACES_HEADERS', 'x-k=a%0Db'],
    ['OTEL_RESOURCE_ATTRIBUTES', 'deployment.environment'],
  ] as const) {
    it(`refuses ${variable}=${JSON.stringify(value)}, naming the variable`, () => {
      const env: NodeJS.ProcessEnv = {
        OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
        OTEL_TRACES_SAMPLER: 'traceidratio',
        [variable]: value,
      };
      expect(() => startOtlpExport({ env })).toThrow(new RegExp(`^${variable} must be`));
    });
  }
});

describe('the main entry without OpenTelemetry', () => {
  it('importing @threadline/tracing loads no @opentelemetry module, and the otel entry does', () => {
    // A fresh process records every module it resolves: nothing else has loaded OpenTelemetry there.
    const probe = `
      import { registerHooks } from 'node:module';
      const seen = [];
      registerHooks({ resolve(specifier, context, next) { const r = next(specifier, context); seen.push(r.url); return r; } });
      await import(process.argv[1]);
      console.log(JSON.stringify(seen.filter((url) => url.includes('/@opentelemetry/'))));
    `;
    const loaded = (entry: string) => {
      const run = spawnSync(
        process.execPath,
        [
          '--conditions=threadline-source',
          '--import',
          `${ROOT}test/support/ts-register.mjs`,
          '--input-type=module',
          '-e',
          probe,
          entry,
        ],
        { cwd: ROOT, encoding: 'utf8', timeout: 60_000 },
      );
      expect(run.status, run.stderr).toBe(0);
      return JSON.parse(run.stdout.trim().split('\n').at(-1)!) as string[];
    };
    expect(loaded('@threadline/tracing')).toEqual([]);
    expect(loaded('@threadline/tracing/otel').length).toBeGreaterThan(0);
  }, 90_000);
});
