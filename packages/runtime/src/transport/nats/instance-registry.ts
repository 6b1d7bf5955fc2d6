import { AwakeClock } from './awake-clock.js';

/**
 * Which instances of each component are alive, from their discovery heartbeats: an instance is alive
 * while its heartbeats keep coming, and gone when it says it leaves or falls silent for `expiryMs`. A
 * draining instance is alive (its calls in flight go on) but takes no new calls. Listeners hear of
 * every instance that goes, so calls in flight to it can fail instead of hanging.
 *
 * Silence is measured on a clock that stands still while this process is stalled (`AwakeClock`), and
 * over NATS while the bus is silent too (`LivenessClock`).
 *
 * An instance that a call found not listening (`unreachable`) takes no new calls until it is heard from
 * again, and nor do the other instances of its process: they share its connection, so a process killed
 * takes them all, and the next calls would only find them gone one by one before their silence shows.
 */
export class InstanceRegistry {
  private readonly lastSeen = new Map<
    string,
    { address: string; at: number; draining: boolean; processId: string | undefined }
  >();
  /** When a call last found an instance (by id) or an instance of a process (by process id) not listening. */
  private readonly unreachableSince = new Map<string, number>();
  private readonly goneListeners = new Set<(instanceId: string) => void>();
  /** `instances()` of each component as last computed, until something changes (`takingCalls`). */
  private readonly taking = new Map<string, readonly string[]>();
  private readonly sweeper: NodeJS.Timeout;
  private readonly clock: { now(): number };

  /** `clock` measures silence; by default one that stands still while this process is stalled. */
  constructor(
    private readonly expiryMs: number,
    clock?: { now(): number },
  ) {
    const sweepMs = Math.max(50, expiryMs / 4);
    this.clock = clock ?? new AwakeClock(sweepMs);
    this.sweeper = setInterval(() => this.sweep(), sweepMs);
    this.sweeper.unref();
  }

  /** An instance's heartbeat; `processId` names the process it runs in (older processes do not say). */
  heard(address: string, instanceId: string, state: 'up' | 'draining' | 'leaving', processId?: string): void {
    if (state === 'leaving') this.remove(instanceId);
    else {
      const draining = state === 'draining';
      const before = this.lastSeen.get(instanceId);
      this.lastSeen.set(instanceId, { address, at: this.clock.now(), draining, processId });
      // A beat changes who takes calls when it is a new instance's, a change of state, or one that clears a suspicion.
      if (before?.draining !== draining || this.unreachableSince.size > 0) this.taking.clear();
    }
  }

  /** A call to `instanceId` found nothing listening: it, and its process's others, wait for their next beat. */
  unreachable(instanceId: string): void {
    const now = this.clock.now();
    this.taking.clear();
    this.unreachableSince.set(instanceId, now);
    const processId = this.lastSeen.get(instanceId)?.processId;
    if (processId !== undefined) this.unreachableSince.set(processId, now);
  }

  /** The instances of a component that take new calls. */
  instances(address: string): string[] {
    const now = this.clock.now();
    return [...this.lastSeen]
      .filter(
        ([id, seen]) =>
          seen.address === address &&
          !seen.draining &&
          now - seen.at <= this.expiryMs &&
          !this.unreachableAfter(id, seen),
      )
      .map(([id]) => id)
      .sort();
  }

  /**
   * `instances(address)` for a call to pick from, kept until a heartbeat, a departure or a suspicion changes
   * it: one silent past the expiry drops out at the next sweep, a fraction of the expiry later.
   */
  takingCalls(address: string): readonly string[] {
    let ids = this.taking.get(address);
    if (ids === undefined) {
      ids = this.instances(address);
      this.taking.set(address, ids);
    }
    return ids;
  }

  /** Whether a call found the instance, or its process, not listening since its last heartbeat. */
  private unreachableAfter(instanceId: string, seen: { at: number; processId: string | undefined }): boolean {
    const since = Math.max(
      this.unreachableSince.get(instanceId) ?? -Infinity,
      seen.processId === undefined ? -Infinity : (this.unreachableSince.get(seen.processId) ?? -Infinity),
    );
    return since >= seen.at;
  }

  /** Every instance alive, of every component, draining ones included. */
  known(): string[] {
    const now = this.clock.now();
    return [...this.lastSeen].filter(([, seen]) => now - seen.at <= this.expiryMs).map(([id]) => id);
  }

  isAlive(instanceId: string): boolean {
    const seen = this.lastSeen.get(instanceId);
    return seen !== undefined && this.clock.now() - seen.at <= this.expiryMs;
  }

  onGone(listener: (instanceId: string) => void): () => void {
    this.goneListeners.add(listener);
    return () => this.goneListeners.delete(listener);
  }

  close(): void {
    clearInterval(this.sweeper);
    this.lastSeen.clear();
    this.unreachableSince.clear();
    this.goneListeners.clear();
    this.taking.clear();
  }

  private sweep(): void {
    const now = this.clock.now();
    for (const [instanceId, seen] of this.lastSeen) if (now - seen.at > this.expiryMs) this.remove(instanceId);
    // A suspicion older than any heartbeat that could still count is spent.
    for (const [key, since] of this.unreachableSince)
      if (now - since > this.expiryMs) this.unreachableSince.delete(key);
    // The cache holds no instance the next call could not take past this sweep.
    this.taking.clear();
  }

  private remove(instanceId: string): void {
    if (!this.lastSeen.delete(instanceId)) return;
    this.taking.clear();
    for (const listener of [...this.goneListeners]) listener(instanceId);
  }
}
