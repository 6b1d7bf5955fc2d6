import { Controller, Get, Param } from '@nestjs/common';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Component, Endpoint, InjectComponent, RuntimeModule, unary } from '@threadline/runtime';
import type { ComponentClient, RuntimeModuleOptions } from '@threadline/runtime';
import { addSpanRecorder } from '@threadline/tracing';
import type { FinishedSpan } from '@threadline/tracing';
import { describeWithNats, startNatsServer } from '../support/nats-server.js';
import type { NatsServer } from '../support/nats-server.js';
import { PLATFORMS, startTestApp } from '../support/test-app.js';
import type { Platform, TestApp } from '../support/test-app.js';
import { waitUntil } from '../support/wait-for.js';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const CALLER_SPAN = '00f067aa0ba902b7';
const TRACEPARENT = `00-${TRACE_ID}-${CALLER_SPAN}-01`;

@Component({ name: 'span-worker' })
class SpanWorker {
  @Endpoint()
  async *generate(request: { count: number }): AsyncGenerator<number> {
    for (let n = 0; n < request.count; n++) yield n;
  }

  @Endpoint()
  async fail(): Promise<never> {
    throw Object.assign(new Error('engine said no'), { status: 500 });
  }
}

@Component({ name: 'span-front' })
class SpanFront {
  constructor(@InjectComponent(SpanWorker) private readonly worker: ComponentClient<SpanWorker>) {}

  @Endpoint()
  async *relay(request: { count: number }): AsyncGenerator<number> {
    yield* this.worker.generate(request);
  }
}

@Controller('relay')
class RelayController {
  constructor(
    @InjectComponent(SpanFront) private readonly front: ComponentClient<SpanFront>,
    @InjectComponent(SpanWorker) private readonly worker: ComponentClient<SpanWorker>,
  ) {}

  @Get('fail')
  async fail(): Promise<unknown> {
    return unary(this.worker.fail({}));
  }

  @Get(':count')
  async relay(@Param('count') count: string): Promise<{ items: number[] }> {
    const items: number[] = [];
    for await (const item of this.front.relay({ count: Number(count) })) items.push(item);
    return { items };
  }
}

/** Boots the test app with the two components, calls carried as `runtime` says. */
function startApp(platform: Platform, runtime: Partial<RuntimeModuleOptions> = {}): Promise<TestApp> {
  return startTestApp({
    platform,
    imports: [RuntimeModule.forRoot({ components: [SpanFront, SpanWorker], ...runtime })],
    controllers: [RelayController],
  });
}

function byName(spans: FinishedSpan[], name: string, kind?: FinishedSpan['kind']): FinishedSpan {
  const found = spans.find((span) => span.name === name && (kind === undefined || span.kind === kind));
  if (found === undefined) throw new Error(`no span ${name} among ${spans.map((span) => span.name).join(', ')}`);
  return found;
}

/** The spans of one relay request: the HTTP server span, and a client and a server span per hop. */
function expectRelayTree(spans: FinishedSpan[], requestId: string, traceId: string, rootParent?: string): void {
  expect(spans).toHaveLength(5);
  const http = byName(spans, 'GET /relay/:count');
  const frontClient = byName(spans, 'span-front.relay', 'client');
  const frontServer = byName(spans, 'span-front.relay', 'server');
  const workerClient = byName(spans, 'span-worker.generate', 'client');
  const workerServer = byName(spans, 'span-worker.generate', 'server');
  expect(http).toMatchObject({
    kind: 'server',
    attributes: {
      'http.request.method': 'GET',
      'url.path': '/relay/3',
      'http.route': '/relay/:count',
      'http.response.status_code': 200,
    },
    status: 'unset',
  });
  expect(http.parentSpanId).toBe(rootParent);
  expect(frontClient.parentSpanId).toBe(http.spanId);
  expect(frontServer.parentSpanId).toBe(frontClient.spanId);
  expect(workerClient.parentSpanId).toBe(frontServer.spanId);
  expect(workerServer.parentSpanId).toBe(workerClient.spanId);
  expect(workerServer.attributes).toMatchObject({
    'rpc.system': 'threadline',
    'rpc.service': 'span-worker',
    'rpc.method': 'generate',
    'threadline.instance_id': expect.stringMatching(/^span-worker-/) as string,
  });
  expect(workerClient.attributes['threadline.instance_id']).toBe(workerServer.attributes['threadline.instance_id']);
  for (const span of spans) {
    expect(span.traceId).toBe(traceId);
    expect(span.requestId).toBe(requestId);
    expect(span.attributes.x_request_id).toBe(requestId);
    expect(span.endTime).toBeGreaterThanOrEqual(span.startTime);
  }
  expect(new Set(spans.map((span) => span.spanId)).size).toBe(5);
}

describe.each(PLATFORMS)('spans on %s', (platform) => {
  let app: TestApp;
  let spans: FinishedSpan[];
  let remove: () => void;

  beforeAll(async () => {
    app = await startApp(platform);
  });
  afterAll(() => app.close());
  beforeEach(() => {
    spans = [];
    remove = addSpanRecorder({ onEnd: (span) => spans.push(span) });
  });
  afterEach(() => remove());

  it("make one tree under the caller's span: the HTTP request, then a client and a server span per depends() hop", async () => {
    const response = await fetch(`${app.url}/relay/3`, {
      headers: { 'x-request-id': 'spans-1', traceparent: TRACEPARENT },
    });
    expect(await response.json()).toEqual({ items: [0, 1, 2] });
    await waitUntil(() => spans.length === 5);
    expectRelayTree(spans, 'spans-1', TRACE_ID, CALLER_SPAN);
  });

  it('start a trace of their own when the traceparent is invalid', async () => {
    await fetch(`${app.url}/relay/3`, {
      headers: { 'x-request-id': 'spans-2', traceparent: `00-${'0'.repeat(32)}-${CALLER_SPAN}-01` },
    });
    await waitUntil(() => spans.length === 5);
    const traceId = spans[0]!.traceId;
    expect(traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(traceId).not.toBe('0'.repeat(32));
    expectRelayTree(spans, 'spans-2', traceId, undefined);
  });

  it('mark a failed call and a 5xx answer as errors', async () => {
    const response = await fetch(`${app.url}/relay/fail`, { headers: { 'x-request-id': 'spans-3' } });
    expect(response.status).toBe(500);
    await waitUntil(() => spans.length === 3);
    expect(byName(spans, 'GET /relay/fail')).toMatchObject({
      status: 'error',
      attributes: { 'http.response.status_code': 500 },
    });
    expect(byName(spans, 'span-worker.fail', 'server')).toMatchObject({
      status: 'error',
      statusMessage: 'engine said no',
    });
    expect(byName(spans, 'span-worker.fail', 'client')).toMatchObject({ status: 'error' });
  });

  it('name a request no route matched after its method alone, never after the path the client sent', async () => {
    const response = await fetch(`${app.url}/no/such/path-12345`, {
      method: 'POST',
      headers: { 'x-request-id': 'spans-5' },
    });
    expect(response.status).toBe(404);
    await waitUntil(() => spans.length === 1);
    expect(spans[0]).toMatchObject({ name: 'POST', kind: 'server', attributes: { 'url.path': '/no/such/path-12345' } });
    expect(spans[0]!.attributes['http.route']).toBeUndefined();
  });

  it('are not recorded with no recorder, and the incoming traceparent goes on as it came', async () => {
    remove();
    const seen: FinishedSpan[] = [];
    const response = await fetch(`${app.url}/relay/2`, {
      headers: { 'x-request-id': 'spans-4', traceparent: TRACEPARENT },
    });
    expect(await response.json()).toEqual({ items: [0, 1] });
    expect(spans).toEqual(seen);
    const handling = app.logs.forRequest('spans-4').find((line) => line.msg === 'handling span-worker.generate');
    expect(handling).toMatchObject({ traceparent: TRACEPARENT });
  });
});

describeWithNats('spans over NATS', () => {
  let nats: NatsServer;
  let app: TestApp;
  let spans: FinishedSpan[] = [];
  let remove: () => void = () => undefined;

  beforeAll(async () => {
    nats = await startNatsServer();
    app = await startApp('fastify', { transport: 'nats', nats: { url: nats.url, shutdownGraceMs: 500 } });
  });
  afterAll(async () => {
    await app?.close();
    await nats?.stop();
  });
  beforeEach(() => {
    spans = [];
    remove = addSpanRecorder({ onEnd: (span) => spans.push(span) });
  });
  afterEach(() => remove());

  it('join the callee to the caller through the traceparent header', async () => {
    const response = await fetch(`${app.url}/relay/3`, {
      headers: { 'x-request-id': 'spans-nats-1', traceparent: TRACEPARENT },
    });
    expect(await response.json()).toEqual({ items: [0, 1, 2] });
    await waitUntil(() => spans.length === 5);
    expectRelayTree(spans, 'spans-nats-1', TRACE_ID, CALLER_SPAN);
  });
});
