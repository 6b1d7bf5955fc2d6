import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAppConfig } from '../../src/config/app.config.js';
import { sleep } from '../support/cluster.js';
import { exportingCluster } from '../support/exporting-cluster.js';
import { describeWithNats } from '../support/nats-server.js';
import { startOtlpCollector } from '../support/otlp-collector.js';
import type { CollectedSpan, OtlpCollector } from '../support/otlp-collector.js';
import { startPipeline } from '../support/pipeline-app.js';
import { CHAT, chatBody, COMPLETIONS, MODEL, request } from '../support/requests.js';
import { spawnFromSource, startFromSource, untilServing } from '../support/service-process.js';
import { waitFor } from '../support/wait-for.js';

/**
 * The service exports its spans over OTLP (docs/configuration.md, "Traces") to a real endpoint in this
 * test: one trace per request, joined to the caller's `traceparent`, with spans from every component,
 * in one process and over NATS.
 */

const CALLER_SPAN = '00f067aa0ba902b7';
let traceCount = 0;

/** A fresh trace id for each request, so that each test reads its own spans. */
function newTrace(): { traceId: string; traceparent: string } {
  const traceId = `7a${(++traceCount).toString(16).padStart(30, '0')}`;
  return { traceId, traceparent: `00-${traceId}-${CALLER_SPAN}-01` };
}

async function chat(url: string, id: string, traceparent: string): Promise<void> {
  const res = await request(url, CHAT, chatBody('hello traces', { max_tokens: 4 }), { id, headers: { traceparent } });
  expect(res.status).toBe(200);
  await res.text();
}

const SERVER = 2;

/** The component whose server span this is: a component's call names it; the HTTP request is the Frontend's. */
function componentOf(span: CollectedSpan): string | undefined {
  if (span.kind !== SERVER) return undefined;
  const service = span.attributes['rpc.service'];
  if (typeof service === 'string') return service;
  return span.parentSpanId === CALLER_SPAN ? 'frontend' : undefined;
}

/** Checks one request's trace: joined to the caller, the request id on every span, every component there. */
function expectWholeTrace(spans: CollectedSpan[], id: string): void {
  expect(spans.length).toBeGreaterThan(0);
  expect(spans.filter((span) => span.attributes.x_request_id !== id)).toEqual([]);
  expect(spans.filter((span) => span.parentSpanId === CALLER_SPAN)).toHaveLength(1);
  // Every span but the first hangs off another span of the same trace.
  const ids = new Set(spans.map((span) => span.spanId));
  expect(spans.filter((span) => span.parentSpanId !== CALLER_SPAN && !ids.has(span.parentSpanId!))).toEqual([]);
  const components = new Set(spans.map(componentOf).filter((name) => name !== undefined));
  expect(components).toEqual(new Set(['frontend', 'processor', 'router', 'worker']));
}

describe('OTLP export from the service in one process', () => {
  let collector: OtlpCollector;
  beforeAll(async () => {
    collector = await startOtlpCollector();
  });
  afterAll(() => collector.close());

  for (const protocol of ['http/protobuf', 'http/json']) {
    it(`exports one whole trace per request in ${protocol}, sent by the time the app has closed`, async () => {
      const pipeline = await startPipeline({
        OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
        OTEL_SERVICE_NAME: 'threadline-one',
      });
      const { traceId, traceparent } = newTrace();
      try {
        await chat(pipeline.url, `otlp-one-${protocol}`, traceparent);
        // Log lines written in a span lead to it.
        const line = pipeline.logs.forRequest(`otlp-one-${protocol}`).find((entry) => entry.trace_id !== undefined);
        expect(line?.trace_id).toBe(traceId);
      } finally {
        await pipeline.close();
      }
      const spans = collector.trace(traceId);
      expectWholeTrace(spans, `otlp-one-${protocol}`);
      expect(spans.filter((span) => span.serviceName !== 'threadline-one')).toEqual([]);
    });
  }

  it("exports no span of the service's probes and scrapes, which no one looks for as traces", async () => {
    const pipeline = await startPipeline({ OTEL_EXPORTER_OTLP_ENDPOINT: collector.url, OTEL_SERVICE_NAME: 'probed' });
    const { traceId, traceparent } = newTrace();
    try {
      for (const path of ['/metrics', '/health', '/ready', '/debug/requests']) {
        const res = await fetch(`${pipeline.url}${path}`, { headers: { traceparent } });
        expect(res.status, path).toBe(200);
        await res.text();
      }
      await chat(pipeline.url, 'otlp-probed', traceparent);
    } finally {
      await pipeline.close();
    }
    const paths = collector.trace(traceId).map((span) => span.attributes['url.path']);
    expect(paths.filter((path) => path !== undefined)).toEqual(['/v1/chat/completions']);
  });

  for (const [what, env] of [
    ['no endpoint set', { OTEL_SERVICE_NAME: 'threadline-off' }],
    ['OTEL_SDK_DISABLED=true', { OTEL_SDK_DISABLED: 'true' }],
    ['OTEL_TRACES_SAMPLER=always_off', { OTEL_TRACES_SAMPLER: 'always_off' }],
  ] as const) {
    it(`sends nothing with ${what}`, async () => {
      const endpoint = what === 'no endpoint set' ? {} : { OTEL_EXPORTER_OTLP_ENDPOINT: collector.url };
      const before = collector.requests;
      const pipeline = await startPipeline({ ...endpoint, ...env });
      try {
        await chat(pipeline.url, `otlp-none-${what}`, newTrace().traceparent);
        // With export off, log lines carry no trace ids; a sampler that drops every trace leaves export on.
        if (what !== 'OTEL_TRACES_SAMPLER=always_off')
          expect(pipeline.logs.lines.filter((line) => line.trace_id !== undefined)).toEqual([]);
      } finally {
        await pipeline.close();
      }
      expect(collector.requests).toBe(before);
    });
  }

  it("reads the protocol's and sampler's names whatever their case, as the specification reads them", () => {
    const config = loadAppConfig({
      OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'HTTP/JSON',
      OTEL_TRACES_SAMPLER: 'ALWAYS_OFF',
    });
    expect(config.traces).toMatchObject({ protocol: 'http/json', sampler: 'always_off' });
  });

  it('a bad variable stops the configuration, naming it', () => {
    expect(() =>
      loadAppConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: collector.url, OTEL_TRACES_SAMPLER: 'sometimes' }),
    ).toThrow(/^Invalid configuration: OTEL_TRACES_SAMPLER must be one of/);
    expect(() =>
      loadAppConfig({
        OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
        OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
        OTEL_TRACES_SAMPLER_ARG: '-0.1',
      }),
    ).toThrow(/^Invalid configuration: OTEL_TRACES_SAMPLER_ARG must be a number from 0 to 1/);
    expect(() =>
      loadAppConfig({ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc', OTEL_EXPORTER_OTLP_ENDPOINT: collector.url }),
    ).toThrow(/^Invalid configuration: OTEL_EXPORTER_OTLP_PROTOCOL must be/);
    expect(() =>
      loadAppConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: collector.url, OTEL_EXPORTER_OTLP_HEADERS: 'api-key=%E2%82%AC' }),
    ).toThrow(
      /^Invalid configuration: OTEL_EXPORTER_OTLP_HEADERS must be headers Node's HTTP client can send \(.*\), got "api-key=%E2%82%AC"/,
    );
    expect(() => loadAppConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: '127.0.0.1:4318' })).toThrow(
      /^Invalid configuration: OTEL_EXPORTER_OTLP_ENDPOINT must be an http/,
    );
  });

  it('a bad variable stops the process at start-up with a message naming it', async () => {
    await expect(
      startFromSource({ OTEL_EXPORTER_OTLP_ENDPOINT: 'localhost:4318', OTEL_SERVICE_NAME: 'threadline-bad' }, 60_000),
    ).rejects.toThrow(/OTEL_EXPORTER_OTLP_ENDPOINT must be an http/);
  }, 90_000);
});

/** An HTTP server on a free loopback port that takes requests and never answers them. */
async function startSilentServer(): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer(() => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A loopback port nothing listens on: a connection to it is refused. */
async function refusingUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

describe('OTLP export when the service stops (SIGTERM)', () => {
  /** Starts the service exporting to `endpoint`, answers one request, sends SIGTERM at once; how it ended. */
  async function stopAfterOneRequest(name: string, endpoint: string) {
    const service = await untilServing(
      spawnFromSource(name, {
        OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
        // The spans wait for the last flush: nothing is sent before the stop.
        OTEL_BSP_SCHEDULE_DELAY: '60000',
        OTEL_EXPORTER_OTLP_TIMEOUT: '8000',
      }),
      {},
    );
    try {
      const res = await request(service.url!, COMPLETIONS, { model: MODEL, prompt: 'hi', max_tokens: 4 }, { id: name });
      expect(res.status).toBe(200);
      await res.text();
      const started = performance.now();
      service.signal('SIGTERM');
      const exit = await service.exited;
      return { exit, tookMs: performance.now() - started, stderr: service.stderr(), lines: service.logs.lines };
    } finally {
      await service.stop(1000);
    }
  }

  // Why the spans were lost: the refused connection the SDK kept retrying, or the bound reached.
  for (const [what, endpoint, why] of [
    ['refuses connections', refusingUrl, /^connect ECONNREFUSED 127\.0\.0\.1:\d+ \(retried, not sent within \d+ ms\)$/],
    ['never answers', startSilentServer, /^not sent within \d+ ms$/],
  ] as const) {
    it(`exits 0 within the last flush's bound when the collector ${what}, logging the spans lost in one line`, async () => {
      const target = await endpoint();
      const url = typeof target === 'string' ? target : target.url;
      try {
        const { exit, tookMs, stderr, lines } = await stopAfterOneRequest(`otlp-stop-${what.split(' ')[0]}`, url);
        expect(exit).toEqual({ code: 0, signal: null });
        // The bound is 3 s; the process's own close takes a little more.
        expect(tookMs).toBeLessThan(6000);
        expect(stderr).toBe('');
        const lost = lines.filter((line) => line.context === 'OtlpExport');
        expect(lost).toHaveLength(1);
        expect(lost[0]).toMatchObject({ level: 40, exportUrl: `${url}/v1/traces` });
        expect(lost[0]!.lostSpans).toBeGreaterThan(0);
        expect(lost[0]!.msg).toBe(`${String(lost[0]!.lostSpans)} spans not exported at shutdown`);
        expect(lost[0]!.error).toMatch(why);
        // A line of the export's own, of no request.
        expect(lost[0]!.requestId).toBeUndefined();
      } finally {
        if (typeof target !== 'string') await target.close();
      }
    }, 60_000);
  }

  it('sends the spans still waiting to a working collector before it exits 0', async () => {
    const collector = await startOtlpCollector();
    try {
      const { exit, lines } = await stopAfterOneRequest('otlp-stop-working', collector.url);
      expect(exit).toEqual({ code: 0, signal: null });
      expect(lines.filter((line) => line.context === 'OtlpExport')).toEqual([]);
      const spans = collector.spans.filter((span) => span.attributes.x_request_id === 'otlp-stop-working');
      expect(spans.map((span) => span.attributes['url.path'])).toContain('/v1/completions');
    } finally {
      await collector.close();
    }
  }, 60_000);
});

describeWithNats('OTLP export from the service over NATS, one process per component', () => {
  const names = ['frontend', 'processor', 'router', 'worker'];
  const suite = exportingCluster(
    names.map((name) => ({ name, components: name, env: { OTEL_SERVICE_NAME: `threadline-${name}` } })),
    // A short batch delay: the spans go out while the test waits, not only at shutdown.
    { OTEL_BSP_SCHEDULE_DELAY: '100' },
  );

  it('each process exports its spans of the caller’s trace, under its own service.name', async () => {
    const { traceId, traceparent } = newTrace();
    await chat(suite.cluster.url, 'otlp-nats-1', traceparent);
    await waitFor(() => {
      const found = suite.collector.trace(traceId);
      return new Set(found.map(componentOf).filter(Boolean)).size === names.length ? true : undefined;
    }, 10_000).catch(() => false);
    // The last batches of the other processes, sent within their short delay.
    await sleep(500);
    const spans = suite.collector.trace(traceId);
    expectWholeTrace(spans, 'otlp-nats-1');
    // A component's server span comes from its own process, under that process's service.name.
    const misplaced = spans.filter(
      (span) => componentOf(span) !== undefined && span.serviceName !== `threadline-${componentOf(span)}`,
    );
    expect(misplaced).toEqual([]);
    expect(spans.filter((span) => !names.some((name) => span.serviceName === `threadline-${name}`))).toEqual([]);
  });
});
