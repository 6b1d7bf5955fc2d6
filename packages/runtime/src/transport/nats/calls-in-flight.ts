import { onRequestCancelled } from '@threadline/tracing/internal';
import type { RequestStore } from '@threadline/tracing/internal';
import type { InstanceRegistry } from './instance-registry.js';
import type { NatsCall } from './nats-call.js';

/** A place for one call at a time, with the function that stops it hearing of its request's cancellation. */
interface Slot {
  call: NatsCall | undefined;
  stopWatching: (() => void) | undefined;
}

/**
 * The calls this process has in flight over NATS, watched together rather than with a timer each: one
 * sweep fails those no instance took in time, an instance leaving the registry fails those sent to it or
 * served by it, the loss of the bus fails them all, and a request's cancellation cancels its calls.
 *
 * Each call takes a slot of an array, free again when it ends, rather than an entry of a map: a map that
 * empties at the end of every call is shrunk, and so allocated again, by V8 each time (bench/README.md,
 * "Tables that empty at every call").
 */
export class CallsInFlight {
  private readonly slots: Slot[] = [];
  /** The indices of the slots with no call. */
  private readonly free: number[] = [];
  private readonly sweeper: NodeJS.Timeout;
  private readonly stopWatching: () => void;

  /** `startTimeoutMs` is the calls' own; the sweep runs often enough to fail them soon after it. */
  constructor(registry: InstanceRegistry, startTimeoutMs: number) {
    this.stopWatching = registry.onGone((instanceId) => {
      for (const call of this.calls()) call.instanceGone(instanceId);
    });
    const sweepMs = Math.max(10, Math.min(250, startTimeoutMs / 10));
    this.sweeper = setInterval(() => {
      const now = performance.now();
      for (const { call } of this.slots) call?.checkStarted(now);
    }, sweepMs);
    this.sweeper.unref();
  }

  /** Watches `call`, made for the request of `store`, until `delete` of the slot returned. */
  add(call: NatsCall, store: RequestStore): number {
    const stopWatching = onRequestCancelled(store, (reason) => call.cancelled(reason));
    const index = this.free.pop();
    if (index === undefined) return this.slots.push({ call, stopWatching }) - 1;
    const slot = this.slots[index]!;
    slot.call = call;
    slot.stopWatching = stopWatching;
    return index;
  }

  delete(index: number): void {
    const slot = this.slots[index];
    if (slot?.call === undefined) return;
    slot.stopWatching?.();
    slot.call = undefined;
    slot.stopWatching = undefined;
    this.free.push(index);
  }

  busLost(): void {
    for (const call of this.calls()) call.busLost();
  }

  close(): void {
    clearInterval(this.sweeper);
    this.stopWatching();
  }

  /** The calls in flight now, taken before any is told something that may end it. */
  private calls(): NatsCall[] {
    const calls: NatsCall[] = [];
    for (const { call } of this.slots) if (call !== undefined) calls.push(call);
    return calls;
  }
}
