import type { InstanceRegistry } from './instance-registry.js';
import type { NatsCall } from './nats-call.js';

/**
 * The calls this process has in flight over NATS, watched together rather than with a timer and
 * listeners each: one sweep fails those no instance took in time, an instance leaving the registry fails
 * those sent to it or served by it, the loss of the bus fails them all, and a request's signal, heard
 * with one listener whatever number of calls the request makes, cancels its calls.
 */
export class CallsInFlight {
  private readonly calls = new Set<NatsCall>();
  private readonly bySignal = new WeakMap<AbortSignal, Set<NatsCall>>();
  private readonly sweeper: NodeJS.Timeout;
  private readonly stopWatching: () => void;

  /** `startTimeoutMs` is the calls' own; the sweep runs often enough to fail them soon after it. */
  constructor(registry: InstanceRegistry, startTimeoutMs: number) {
    this.stopWatching = registry.onGone((instanceId) => {
      for (const call of [...this.calls]) call.instanceGone(instanceId);
    });
    const sweepMs = Math.max(10, Math.min(250, startTimeoutMs / 10));
    this.sweeper = setInterval(() => {
      const now = performance.now();
      for (const call of this.calls) call.checkStarted(now);
    }, sweepMs);
    this.sweeper.unref();
  }

  /** Watches `call`, made for the request whose signal is `signal`, until `delete`. */
  add(call: NatsCall, signal: AbortSignal | undefined): void {
    this.calls.add(call);
    if (signal === undefined) return;
    let calls = this.bySignal.get(signal);
    if (calls === undefined) {
      const ofSignal = (calls = new Set());
      this.bySignal.set(signal, ofSignal);
      signal.addEventListener(
        'abort',
        () => {
          for (const cancelled of [...ofSignal]) cancelled.cancelled(signal.reason);
        },
        { once: true },
      );
    }
    calls.add(call);
  }

  delete(call: NatsCall, signal: AbortSignal | undefined): void {
    this.calls.delete(call);
    if (signal !== undefined) this.bySignal.get(signal)?.delete(call);
  }

  busLost(): void {
    for (const call of [...this.calls]) call.busLost();
  }

  close(): void {
    clearInterval(this.sweeper);
    this.stopWatching();
  }
}
