import { Logger } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type { TestingModule } from '@nestjs/testing';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  Component,
  Endpoint,
  EndpointError,
  getComponentToken,
  InjectComponent,
  RuntimeModule,
  unary,
} from '@threadline/runtime';
import type { ComponentClient, ComponentInstanceInfo, EndpointContext, OnComponentStart } from '@threadline/runtime';
import {
  createTracingLogger,
  getCurrentRequestId,
  RequestIdService,
  RequestTracingModule,
  setRequestDeadline,
  TracingLogger,
} from '@threadline/tracing';
import type { RequestTracingOptions } from '@threadline/tracing';
import { LogCapture } from '../support/log-capture.js';

const engineEvents: string[] = [];

@Component({ name: 'echo-worker' })
class EchoWorker implements OnComponentStart {
  private readonly logger = new Logger(EchoWorker.name);
  instanceId = '';

  onComponentStart(info: ComponentInstanceInfo): void {
    this.instanceId = info.instanceId;
  }

  @Endpoint('generate')
  async *generate(
    request: { count: number },
    context: EndpointContext,
  ): AsyncGenerator<{ n: number; id?: string; instance: string }> {
    try {
      for (let n = 0; n < request.count; n++) {
        if (context.signal.aborted) return;
        await sleep(2);
        this.logger.log(`token ${n}`);
        yield { n, id: getCurrentRequestId(), instance: this.instanceId };
      }
    } finally {
      engineEvents.push(`${context.requestId}:stopped`);
    }
  }

  @Endpoint()
  async fail(request: { status: number }): Promise<never> {
    throw Object.assign(new Error('engine said no'), { status: request.status });
  }
}

@Component({ name: 'echo-front' })
class EchoFront {
  constructor(@InjectComponent(EchoWorker) private readonly worker: ComponentClient<EchoWorker>) {}

  @Endpoint()
  async *relay(request: { count: number; instance?: string }) {
    for await (const item of this.worker.generate({ count: request.count }, { instance: request.instance })) {
      yield { ...item, relayedUnder: getCurrentRequestId() };
    }
  }

  @Endpoint()
  async describe() {
    return { instances: await this.worker.instances(), id: getCurrentRequestId() };
  }
}

describe('the component runtime, in one process', () => {
  let moduleRef: TestingModule;
  let logs: LogCapture;
  let front: ComponentClient<EchoFront>;
  let worker: ComponentClient<EchoWorker>;
  let requestIds: RequestIdService;

  beforeEach(async () => {
    logs = new LogCapture();
    engineEvents.length = 0;
    const tracing: RequestTracingOptions = { logLevel: 'debug', logDestination: logs };
    moduleRef = await Test.createTestingModule({
      imports: [
        RequestTracingModule.forRoot({ ...tracing, logger: createTracingLogger(tracing) }),
        RuntimeModule.forRoot({ components: [EchoFront, EchoWorker], replicas: { 'echo-worker': 2 } }),
      ],
    }).compile();
    moduleRef.useLogger(moduleRef.get(TracingLogger));
    await moduleRef.init();
    front = moduleRef.get(getComponentToken(EchoFront));
    worker = moduleRef.get(getComponentToken(EchoWorker));
    requestIds = moduleRef.get(RequestIdService);
  });
  afterEach(() => moduleRef.close());

  it('carries the request id through every hop and names the component on each log line', async () => {
    const items = await requestIds.run(async () => {
      const out = [];
      for await (const item of front.relay({ count: 3, instance: 'echo-worker-1' })) out.push(item);
      return out;
    }, 'rt-1');
    expect(items).toEqual([0, 1, 2].map((n) => ({ n, id: 'rt-1', instance: 'echo-worker-1', relayedUnder: 'rt-1' })));
    const lines = logs.forRequest('rt-1');
    expect(lines.filter((line) => line.msg?.startsWith('token')).map((line) => line.component)).toEqual([
      'echo-worker',
      'echo-worker',
      'echo-worker',
    ]);
    expect(lines.find((line) => line.msg === 'handling echo-front.relay')).toMatchObject({ component: 'echo-front' });
    expect(lines.find((line) => line.msg === 'handling echo-worker.generate')).toMatchObject({
      component: 'echo-worker',
      instanceId: 'echo-worker-1',
    });
  });

  it('lists the instances and spreads calls without a chosen instance across them', async () => {
    expect(await requestIds.run(() => unary(front.describe({})), 'rt-2')).toEqual({
      instances: ['echo-worker-0', 'echo-worker-1'],
      id: 'rt-2',
    });
    const served = new Set<string>();
    for (let i = 0; i < 4; i++) served.add((await unary(worker.generate({ count: 1 }))).instance);
    expect([...served].sort()).toEqual(['echo-worker-0', 'echo-worker-1']);
  });

  it('stops the callee when the caller stops iterating', async () => {
    await requestIds.run(async () => {
      for await (const item of front.relay({ count: 1000 })) if (item.n === 2) break;
    }, 'rt-3');
    expect(engineEvents).toEqual(['rt-3:stopped']);
  });

  it('stops every hop when the request’s deadline passes, and fails the call with a 504 rather than a short answer', async () => {
    const failure = await requestIds.run(async () => {
      setRequestDeadline(Date.now() + 50);
      const out = [];
      try {
        for await (const item of front.relay({ count: 1000 })) out.push(item);
      } catch (error) {
        return { error, items: out.length };
      }
      return { items: out.length };
    }, 'rt-deadline');
    expect(failure.error).toBeInstanceOf(EndpointError);
    expect(failure.error).toMatchObject({ status: 504, code: 'deadline_exceeded', expected: true });
    expect(failure.items).toBeLessThan(1000);
    expect(engineEvents).toEqual(['rt-deadline:stopped']);
  });

  it('starts no work whose deadline has passed', async () => {
    const failure = await requestIds.run(() => {
      setRequestDeadline(Date.now() - 1);
      return unary(worker.generate({ count: 3 })).catch((error: unknown) => error);
    }, 'rt-late');
    expect(failure).toMatchObject({ status: 504, code: 'deadline_exceeded', requestId: 'rt-late' });
    expect(engineEvents).toEqual([]);
    // The caller's own request is stopped already: the call fails before it reaches the worker.
    expect(logs.forRequest('rt-late').filter((line) => line.component === 'echo-worker')).toEqual([]);
  });

  it('turns a failure into an EndpointError naming the request, component and endpoint', async () => {
    const failure = await requestIds.run(() => unary(worker.fail({ status: 400 })).catch((e: unknown) => e), 'rt-4');
    expect(failure).toBeInstanceOf(EndpointError);
    expect(failure).toMatchObject({
      requestId: 'rt-4',
      component: 'echo-worker',
      endpoint: 'fail',
      status: 400,
      message: 'engine said no',
    });
    const internal = await requestIds.run(() => unary(worker.fail({ status: 0 })).catch((e: unknown) => e), 'rt-5');
    expect(internal).toMatchObject({ status: 500, code: 'internal_error', requestId: 'rt-5' });
    expect(logs.forRequest('rt-5').some((line) => line.level === 50 && line.component === 'echo-worker')).toBe(true);
  });

  it('opens a context with a new id for a call made outside any request', async () => {
    const first = await unary(worker.generate({ count: 1 }));
    expect(first.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(getCurrentRequestId()).toBeUndefined();
  });
});
