import { Test } from '@nestjs/testing';
import type { TestingModule } from '@nestjs/testing';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  Component,
  Endpoint,
  EndpointError,
  getComponentToken,
  InjectComponent,
  RuntimeModule,
  unary,
} from '@threadline/runtime';
import type { ComponentClient, EndpointContext } from '@threadline/runtime';
import { RequestTracingModule } from '@threadline/tracing';
import { cancelStore, createStore, runInStore } from '@threadline/tracing/internal';
import { LogCapture } from '../support/log-capture.js';
import { describeWithNats, startNatsServer } from '../support/nats-server.js';
import type { NatsServer } from '../support/nats-server.js';
import { startNatsSide } from '../support/nats-side.js';
import { waitUntil } from '../support/wait-for.js';

/**
 * A component whose request was cancelled while it was busy (a long tokenization, a stall) and that then
 * calls another: the call must fail as stopped, and the other component must not start work for a
 * request nobody waits for. Over NATS the cancel reaches the callee as a message; in one process the
 * callee shares the caller's cancellation.
 */

/** Whether `Target.work` ran, by request id. */
const workStarted = new Set<string>();
/** How `Relay.relay`'s own call to `Target.work` ended, by request id. */
const relayed = new Map<string, { status: number; code: string } | 'answered'>();

@Component({ name: 'cancelled-target' })
class Target {
  @Endpoint()
  async work(_request: unknown, context: EndpointContext): Promise<string> {
    workStarted.add(context.requestId);
    await sleep(1);
    return 'worked';
  }
}

@Component({ name: 'cancelled-relay' })
class Relay {
  constructor(@InjectComponent(Target) private readonly target: ComponentClient<Target>) {}

  /** Waits until its request is cancelled, then calls `Target.work`, as a busy component would once free. */
  @Endpoint()
  async relay(_request: unknown, context: EndpointContext): Promise<string> {
    if (!context.signal.aborted) await new Promise((resolve) => context.signal.addEventListener('abort', resolve));
    try {
      await unary(this.target.work({}));
      relayed.set(context.requestId, 'answered');
    } catch (error) {
      const { status, code } = error as EndpointError;
      relayed.set(context.requestId, { status, code });
    }
    return 'relayed';
  }
}

beforeEach(() => {
  workStarted.clear();
  relayed.clear();
});

describe('a call made once its request was cancelled, in one process', () => {
  let moduleRef: TestingModule;
  beforeAll(async () => {
    moduleRef = await Test.createTestingModule({
      imports: [RequestTracingModule.forRoot(), RuntimeModule.forRoot({ components: [Relay, Target] })],
    }).compile();
    await moduleRef.init();
  });
  afterAll(() => moduleRef?.close());

  it('fails as cancelled (499), and its callee never starts', async () => {
    const relay = moduleRef.get<ComponentClient<Relay>>(getComponentToken(Relay));
    const store = createStore('cancelled-inprocess-1');
    const answer = runInStore(store, () => unary(relay.relay({})));
    await sleep(10);
    cancelStore(store, new Error('the client went away'));
    await answer.catch(() => undefined);
    await waitUntil(() => relayed.has('cancelled-inprocess-1'));
    expect(relayed.get('cancelled-inprocess-1')).toEqual({ status: 499, code: 'cancelled' });
    expect(workStarted.has('cancelled-inprocess-1')).toBe(false);
  });
});

describeWithNats('a call made once its request was cancelled, over NATS', () => {
  const logs = new LogCapture();
  let nats: NatsServer;
  let sides: TestingModule[];
  let relay: ComponentClient<Relay>;

  beforeAll(async () => {
    nats = await startNatsServer();
    const side = (serve: Array<typeof Relay | typeof Target>) =>
      startNatsSide({
        components: [Relay, Target],
        serve,
        nats: { url: nats.url, shutdownGraceMs: 500 },
        tracing: { logDestination: logs },
      });
    // The caller, the relay and the target: three processes as far as the transport goes.
    sides = [await side([]), await side([Relay]), await side([Target])];
    relay = sides[0]!.get<ComponentClient<Relay>>(getComponentToken(Relay));
    await waitUntil(async () => (await relay.instances()).length > 0);
  }, 30_000);
  afterAll(async () => {
    for (const side of sides ?? []) await side.close();
    await nats?.stop();
  });

  it('the relay’s call fails as cancelled, and the target never starts', async () => {
    const store = createStore('cancelled-nats-1');
    const stream = runInStore(store, () => relay.relay({}))[Symbol.asyncIterator]();
    const first = stream.next();
    await sleep(100);
    // The caller stops reading: its cancel reaches the relay, which then makes its call.
    await stream.return?.();
    await first.catch(() => undefined);
    await waitUntil(() => relayed.has('cancelled-nats-1'));
    expect(relayed.get('cancelled-nats-1')).toEqual({ status: 499, code: 'cancelled' });
    await sleep(200);
    expect(workStarted.has('cancelled-nats-1')).toBe(false);
  });
});
