import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { addSpanRecorder, DeadlineExceededError } from '@threadline/tracing';
import type { FinishedSpan } from '@threadline/tracing';
import { cancelStore, createStore, endSpanWithIterator, startSpan } from '@threadline/tracing/internal';
import type { RequestStore } from '@threadline/tracing/internal';
import { ByteBudget } from './byte-budget.js';
import { NO_RESPONDERS } from './reply-inbox.js';
import { CallsInFlight } from './calls-in-flight.js';
import { InstanceRegistry } from './instance-registry.js';
import { ItemAssembler, itemFrames } from './item-parts.js';
import { NatsCall } from './nats-call.js';

describe('NatsCall', () => {
  let registry: InstanceRegistry;
  let inFlight: CallsInFlight;
  beforeEach(() => {
    vi.useFakeTimers();
    registry = new InstanceRegistry(1000);
    registry.heard('worker', 'worker-a', 'up');
    registry.heard('worker', 'worker-b', 'up');
    inFlight = new CallsInFlight(registry, 5000);
  });
  afterEach(() => {
    inFlight.close();
    registry.close();
    vi.useRealTimers();
  });

  function call(instance: string | undefined, store: RequestStore = createStore('req-1')) {
    const cancel = vi.fn();
    const ended = vi.fn();
    const stream = new NatsCall({
      callId: 'call-1',
      where: { requestId: 'req-1', component: 'worker', endpoint: 'generate' },
      instance,
      startTimeoutMs: 5000,
      cancel,
      assembler: () => new ItemAssembler(1 << 20, new ByteBudget(1 << 20)),
      onEnd: () => {
        inFlight.delete(slot);
        ended();
      },
    });
    const slot = inFlight.add(stream, store);
    return { stream, cancel, ended, next: stream.next() };
  }

  /** A call to `instance` that is sent again, as `call-2` to `worker-b`, if it fails before being taken. */
  function resentCall(instance: string) {
    const cancels: string[] = [];
    const make = (callId: string, to: string, resend?: () => NatsCall): NatsCall => {
      const stream = new NatsCall({
        callId,
        where: { requestId: 'req-1', component: 'worker', endpoint: 'generate' },
        instance: to,
        startTimeoutMs: 5000,
        cancel: () => cancels.push(callId),
        assembler: () => new ItemAssembler(1 << 20, new ByteBudget(1 << 20)),
        onEnd: () => inFlight.delete(slot),
        resend,
      });
      const slot = inFlight.add(stream, createStore('req-1'));
      return stream;
    };
    let second: NatsCall | undefined;
    const first = make('call-1', instance, () => (second = make('call-2', 'worker-b')));
    return { first, second: () => second, cancels };
  }

  it('sent again when its instance goes before taking it: a next() waiting reads the new call, the old one is told to stop', async () => {
    const { first, second, cancels } = resentCall('worker-a');
    const next = first.next();
    registry.heard('worker', 'worker-a', 'leaving');
    expect(cancels).toEqual(['call-1']);
    second()!.frame({ kind: 'start', instanceId: 'worker-b' });
    second()!.frame({ kind: 'item', value: 'from b' });
    // What the first instance sends late is not the call's any more.
    first.frame({ kind: 'item', value: 'from a' });
    second()!.complete();
    expect(await next).toEqual({ value: 'from b', done: false });
    expect(await first.next()).toEqual({ value: undefined, done: true });
    expect(first.wasResent).toBe(true);
  });

  it('sent again when nothing listens on its instance, or none takes it in time; not once it was taken', async () => {
    const unreachable = resentCall('worker-a');
    unreachable.first.fail(NO_RESPONDERS);
    expect(unreachable.second()).toBeDefined();
    // Nobody took it: nobody to tell to stop.
    expect(unreachable.cancels).toEqual([]);

    // Alive by its heartbeats, but taking nothing.
    const silent = resentCall('worker-a');
    for (let ms = 0; ms < 5400; ms += 300) {
      registry.heard('worker', 'worker-a', 'up');
      vi.advanceTimersByTime(300);
    }
    expect(silent.second()).toBeDefined();
    expect(silent.cancels).toEqual(['call-1']);

    const taken = resentCall('worker-a');
    taken.first.frame({ kind: 'start', instanceId: 'worker-a' });
    const next = taken.first.next();
    registry.heard('worker', 'worker-a', 'leaving');
    await expect(next).rejects.toMatchObject({ code: 'instance_gone' });
    expect(taken.second()).toBeUndefined();
  });

  /** A paced call offering 8 frames of credit: acknowledgements are due once 4 arrived and 2 were read. */
  function pacedCall() {
    const acknowledged: number[] = [];
    const stream = new NatsCall({
      callId: 'call-1',
      where: { requestId: 'req-1', component: 'worker', endpoint: 'generate' },
      instance: undefined,
      startTimeoutMs: 5000,
      cancel: vi.fn(),
      assembler: () => new ItemAssembler(1 << 20, new ByteBudget(1 << 20)),
      credit: { frames: 8, bytes: 1 << 20 },
      acknowledge: (_subject, read) => acknowledged.push(read),
      onEnd: () => undefined,
    });
    stream.frame({ kind: 'start', instanceId: 'worker-a', credit: 'credit-subject' });
    return { stream, acknowledged };
  }

  it('acknowledges what it reads of a paced stream the callee has not ended', async () => {
    const { stream, acknowledged } = pacedCall();
    for (let n = 0; n < 6; n++) stream.frame({ kind: 'item', value: n });
    for (let n = 0; n < 4; n++) await stream.next();
    expect(acknowledged).toEqual([2]);
  });

  it('sends no acknowledgement once the callee has ended the call: nothing more will come', async () => {
    const { stream, acknowledged } = pacedCall();
    for (let n = 0; n < 6; n++) stream.frame({ kind: 'item', value: n });
    stream.complete();
    for (let n = 0; n < 7; n++) await stream.next();
    expect(acknowledged).toEqual([]);
  });

  it('reads a unary answer that came with its start and its end in one go, and cancels nothing', async () => {
    const { stream, next, cancel, ended } = call(undefined);
    stream.frame({ kind: 'start', instanceId: 'worker-a' });
    stream.frame({ kind: 'item', value: { text: 'ok' } });
    stream.complete();
    await expect(next).resolves.toEqual({ value: { text: 'ok' }, done: false });
    await expect(stream.next()).resolves.toEqual({ value: undefined, done: true });
    expect(cancel).not.toHaveBeenCalled();
    expect(ended).toHaveBeenCalledTimes(1);
    expect(stream.answered).toBe(true);
  });

  it('gives the items that came before a failure first, then the failure; a callee failure cancels nothing', async () => {
    const { stream, next, cancel } = call(undefined);
    stream.frame({ kind: 'start', instanceId: 'worker-a' });
    stream.frame({ kind: 'item', value: 1 });
    stream.frame({ kind: 'item', value: 2 });
    stream.fail({ message: 'worker full', status: 429, code: 'queue_full' });
    stream.frame({ kind: 'item', value: 3 });
    await expect(next).resolves.toEqual({ value: 1, done: false });
    await expect(stream.next()).resolves.toEqual({ value: 2, done: false });
    await expect(stream.next()).rejects.toMatchObject({ status: 429, code: 'queue_full', requestId: 'req-1' });
    await expect(stream.next()).resolves.toMatchObject({ done: true });
    expect(cancel).not.toHaveBeenCalled();
  });

  it('puts an item sent in parts back together', async () => {
    const { stream, next } = call(undefined);
    stream.frame({ kind: 'start', instanceId: 'worker-a' });
    const value = { text: 'z'.repeat(5000) };
    const frames = itemFrames(value, 1024);
    expect(frames.length).toBeGreaterThan(1);
    for (const frame of frames) stream.frame(frame);
    await expect(next).resolves.toEqual({ value, done: false });
  });

  it('cancels the call when the consumer stops before the callee ended, once', async () => {
    const { stream, next, cancel, ended } = call(undefined);
    stream.frame({ kind: 'item', value: 1 });
    await next;
    await stream.return();
    await stream.return();
    expect(cancel).toHaveBeenCalledTimes(1);
    expect(ended).toHaveBeenCalledTimes(1);
    expect(stream.answered).toBe(false);
    await expect(stream.next()).resolves.toMatchObject({ done: true });
  });

  it('ends a next() still waiting when the consumer stops', async () => {
    const { stream, next, cancel } = call(undefined);
    await stream.return();
    await expect(next).resolves.toEqual({ value: undefined, done: true });
    expect(cancel).toHaveBeenCalledTimes(1);
  });

  it('fails with cancelled (499) or the deadline (504) when the request is cancelled, every call of it', async () => {
    const cancelled = createStore('req-1');
    const first = call(undefined, cancelled);
    const done = call(undefined, cancelled);
    done.stream.complete();
    await done.next;
    const sibling = call(undefined, cancelled);
    cancelStore(cancelled, new Error('client gone'));
    await expect(first.next).rejects.toMatchObject({ status: 499, code: 'cancelled' });
    await expect(sibling.next).rejects.toMatchObject({ status: 499, code: 'cancelled' });
    expect(first.cancel).toHaveBeenCalledTimes(1);
    expect(done.cancel).not.toHaveBeenCalled();
    const late = createStore('req-2');
    const second = call(undefined, late);
    cancelStore(late, new DeadlineExceededError());
    await expect(second.next).rejects.toMatchObject({ status: 504 });
  });

  it('fails with no_instance_answered when no instance takes the call in time, not before', async () => {
    const { next } = call(undefined);
    let settled = false;
    void next.catch(() => undefined).finally(() => (settled = true));
    await vi.advanceTimersByTimeAsync(4900);
    expect(settled).toBe(false);
    const failure = expect(next).rejects.toMatchObject({
      status: 503,
      code: 'no_instance_answered',
      message: 'No instance of worker took the call within 5000 ms.',
    });
    await vi.advanceTimersByTimeAsync(400);
    await failure;
  });

  /** A call to `worker-a` sent again, when it fails before being taken, to the queue group (no instance left). */
  function resentToQueueGroup() {
    const make = (
      callId: string,
      to: string | undefined,
      options: Partial<ConstructorParameters<typeof NatsCall>[0]>,
    ) => {
      const stream = new NatsCall({
        callId,
        where: { requestId: 'req-1', component: 'worker', endpoint: 'generate' },
        instance: to,
        startTimeoutMs: 5000,
        cancel: () => undefined,
        assembler: () => new ItemAssembler(1 << 20, new ByteBudget(1 << 20)),
        onEnd: () => inFlight.delete(slot),
        ...options,
      });
      const slot = inFlight.add(stream, createStore('req-1'));
      return stream;
    };
    let second: NatsCall | undefined;
    const first = make('call-1', 'worker-a', {
      resend: (failure) => (second = make('call-2', undefined, { insteadOf: failure })),
    });
    return { first, second: () => second! };
  }

  it('its instance gone before it said it took the call, and nobody else takes it: instance_gone, naming that instance', async () => {
    const { first, second } = resentToQueueGroup();
    const next = first.next();
    registry.heard('worker', 'worker-a', 'leaving');
    second().fail(NO_RESPONDERS);
    await expect(next).rejects.toMatchObject({
      status: 503,
      code: 'instance_gone',
      message: 'worker instance worker-a went away before taking the call, and no other instance took it in its place.',
    });
  });

  it('its instance gone, and the call sent again taken by nobody in time: instance_gone, naming that instance', async () => {
    const { first, second } = resentToQueueGroup();
    const next = first.next();
    const failure = expect(next).rejects.toMatchObject({ status: 503, code: 'instance_gone' });
    registry.heard('worker', 'worker-a', 'leaving');
    expect(second()).toBeDefined();
    await vi.advanceTimersByTimeAsync(5300);
    await failure;
  });

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

  it('fails a call mid-stream when its serving instance leaves, and every call when the bus is lost', async () => {
    const { stream, next: first } = call(undefined);
    const other = call(undefined);
    stream.frame({ kind: 'start', instanceId: 'worker-b' });
    stream.frame({ kind: 'item', value: 'token' });
    await expect(first).resolves.toEqual({ value: 'token', done: false });
    const second = stream.next();
    registry.heard('worker', 'worker-b', 'leaving');
    await expect(second).rejects.toMatchObject({
      code: 'instance_gone',
      message: 'worker instance worker-b went away while serving the call.',
    });
    inFlight.busLost();
    await expect(other.next).rejects.toMatchObject({ status: 503, code: 'bus_lost' });
  });

  it('fails at once when nothing listens on its subject: instance_gone for a named instance, cancelling nothing', async () => {
    const named = call('worker-a');
    named.stream.fail(NO_RESPONDERS);
    await expect(named.next).rejects.toMatchObject({
      status: 503,
      code: 'instance_gone',
      message: 'worker instance worker-a went away before taking the call.',
    });
    expect(named.cancel).not.toHaveBeenCalled();
    expect(named.stream.answered).toBe(true);
    const any = call(undefined);
    any.stream.fail(NO_RESPONDERS);
    await expect(any.next).rejects.toMatchObject({ status: 503, code: 'component_unavailable' });
  });

  it('leaves alone a call to another instance, one not taken yet, and one its callee has ended', async () => {
    const toB = call('worker-b');
    const toAny = call(undefined);
    const ended = call(undefined);
    ended.stream.frame({ kind: 'start', instanceId: 'worker-a' });
    ended.stream.frame({ kind: 'item', value: 'last' });
    ended.stream.complete();
    let settled = false;
    void Promise.allSettled([toB.next, toAny.next]).then(() => (settled = true));
    registry.heard('worker', 'worker-a', 'leaving');
    await vi.advanceTimersByTimeAsync(10);
    expect(settled).toBe(false);
    await expect(ended.next).resolves.toEqual({ value: 'last', done: false });
    await expect(ended.stream.next()).resolves.toMatchObject({ done: true });
    toB.stream.complete();
    toAny.stream.complete();
    await expect(toB.next).resolves.toMatchObject({ done: true });
    await expect(toAny.next).resolves.toMatchObject({ done: true });
  });

  it('ends the client spans around it with its own iteration, without a wrapper: done, failed, cancelled', async () => {
    const finished: FinishedSpan[] = [];
    const stopRecording = addSpanRecorder({ onEnd: (span) => finished.push(span) });
    try {
      const traced = (name: string) => {
        const { stream, next } = call(undefined);
        const span = startSpan(name, 'client', undefined, createStore('req-1'))!;
        const iterator = endSpanWithIterator(stream, span, {
          onItem: (item, itemSpan) => void itemSpan.setAttribute('last', String(item)),
        });
        expect(iterator).toBe(stream);
        return { stream, next };
      };
      const done = traced('done');
      done.stream.frame({ kind: 'item', value: 'a' });
      done.stream.complete();
      await done.next;
      await done.stream.next();
      const failed = traced('failed');
      failed.stream.fail({ message: 'no', status: 503, code: 'x' });
      await failed.next.catch(() => undefined);
      const cancelled = traced('cancelled');
      cancelled.stream.frame({ kind: 'item', value: 'b' });
      await cancelled.next;
      await cancelled.stream.return();
      expect(
        finished.map((span) => [span.name, span.status, span.attributes.last, span.attributes['threadline.cancelled']]),
      ).toEqual([
        ['done', 'unset', 'a', undefined],
        ['failed', 'error', undefined, undefined],
        ['cancelled', 'unset', 'b', true],
      ]);
    } finally {
      stopRecording();
    }
  });
});
