import { Subject } from 'rxjs';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ByteBudget } from './byte-budget.js';
import { InstanceRegistry } from './instance-registry.js';
import { ItemAssembler } from './item-parts.js';
import { natsCallStream } from './nats-call-stream.js';
import type { WireFrame } from './nats-subjects.js';

describe('natsCallStream: the registry dropping an instance', () => {
  let registry: InstanceRegistry;
  beforeEach(() => {
    vi.useFakeTimers();
    registry = new InstanceRegistry(1000);
    registry.heard('worker', 'worker-a', 'up');
    registry.heard('worker', 'worker-b', 'up');
  });
  afterEach(() => {
    registry.close();
    vi.useRealTimers();
  });

  function call(instance: string | undefined, responses = new Subject<WireFrame>()) {
    const cancel = vi.fn();
    const stream = natsCallStream({
      responses,
      registry,
      instance,
      startTimeoutMs: 5000,
      where: { requestId: 'req-1', component: 'worker', endpoint: 'generate' },
      cancel,
      signal: undefined,
      onConnectionLost: () => () => undefined,
      assembler: new ItemAssembler(1 << 20, new ByteBudget(1 << 20)),
    });
    return { stream, responses, cancel, next: stream.next() };
  }

  it('fails a call sent to an instance that never took it with instance_gone, long before the start timeout', async () => {
    const { next, cancel } = call('worker-a');
    const failure = expect(next).rejects.toMatchObject({
      status: 503,
      code: 'instance_gone',
      requestId: 'req-1',
      message: 'worker instance worker-a went away before taking the call.',
    });
    // Silent for longer than the expiry: the sweep drops it, well within the start timeout.
    registry.heard('worker', 'worker-b', 'up');
    await vi.advanceTimersByTimeAsync(1300);
    expect(registry.isAlive('worker-a')).toBe(false);
    await failure;
    // The callee is told to stop, by the call's own id (the transport's cancel closes over it).
    expect(cancel).toHaveBeenCalledTimes(1);
  });

  it('fails a call mid-stream, through the same path, when its serving instance leaves', async () => {
    const { stream, responses, next: first } = call(undefined);
    responses.next({ kind: 'start', instanceId: 'worker-b' });
    responses.next({ kind: 'item', value: 'token' });
    await expect(first).resolves.toEqual({ value: 'token', done: false });
    const second = stream.next();
    registry.heard('worker', 'worker-b', 'leaving');
    await expect(second).rejects.toMatchObject({
      code: 'instance_gone',
      message: 'worker instance worker-b went away while serving the call.',
    });
  });

  it('leaves alone a call to another instance, and one sent to no instance in particular that none took yet', async () => {
    const toB = call('worker-b');
    const toAny = call(undefined);
    let settled = false;
    void Promise.allSettled([toB.next, toAny.next]).then(() => (settled = true));
    registry.heard('worker', 'worker-a', 'leaving');
    await vi.advanceTimersByTimeAsync(10);
    expect(settled).toBe(false);
    toB.responses.complete();
    toAny.responses.complete();
    await expect(toB.next).resolves.toMatchObject({ done: true });
    await expect(toAny.next).resolves.toMatchObject({ done: true });
  });
});
