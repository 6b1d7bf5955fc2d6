import { onRequestCancelled } from '@threadline/tracing/internal';
import type { RequestStore } from '@threadline/tracing/internal';
import type { InstanceRegistry } from './instance-registry.js';
import type { NatsCall } from './nats-call.js';

/**
 * The calls this process has in flight over NATS, watched together rather than with a timer each: one
 * sweep fails those no instance took in time, an instance leaving the registry fails those sent to it or
 * served by it, the loss of the bus fails them all, and a request's cancellation cancels its calls.
 */
export class CallsInFlight {
  /** Each call, with the function that stops it hearing of its request's cancellation. */
  private readonly calls = new Map<NatsCall, () => void>();
  private readonly sweeper: NodeJS.Timeout;
  private readonly stopWatching: () => void;

  /** `startTimeoutMs` is the calls' own; the sweep runs often enough to fail them soon after it. */
  constructor(registry: InstanceRegistry, startTimeoutMs: number) {
    this.stopWatching = registry.onGone((instanceId) => {
      for (const call of [...this.calls.keys()]) call.instanceGone(instanceId);
    });
    const sweepMs = Math.max(10, Math.min(250, startTimeoutMs / 10));
    this.sweeper = setInterval(() => {
      const now = performance.now();
      for (const call of this.calls.keys()) call.checkStarted(now);
    }, sweepMs);
    this.sweeper.unref();
  }

  /** Watches `call`, made for the request of `store`, until `delete`. */
  add(call: NatsCall, store: RequestStore): void {
    this.calls.set(
      call,
      onRequestCancelled(store, (reason) => call.cancelled(reason)),
    );
  }

  delete(call: NatsCall): void {
    this.calls.get(call)?.();
    this.calls.delete(call);
  }

  busLost(): void {
    for (const call of [...this.calls.keys()]) call.busLost();
  }

  close(): void {
    clearInterval(this.sweeper);
    this.stopWatching();
  }
}
