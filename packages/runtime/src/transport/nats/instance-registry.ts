import { AwakeClock } from './awake-clock.js';

/**
 * Which instances of each component are alive, from their discovery heartbeats: an instance is alive
 * while its heartbeats keep coming, and gone when it says it leaves or falls silent for `expiryMs`. A
 * draining instance is alive (its calls in flight go on) but takes no new calls. Listeners hear of
 * every instance that goes, so calls in flight to it can fail instead of hanging.
 *
 * Silence is measured on a clock that stands still while this process is stalled (`AwakeClock`).
 */
export class InstanceRegistry {
  private readonly lastSeen = new Map<string, { address: string; at: number; draining: boolean }>();
  private readonly goneListeners = new Set<(instanceId: string) => void>();
  private readonly sweeper: NodeJS.Timeout;
  private readonly clock: AwakeClock;

  constructor(private readonly expiryMs: number) {
    const sweepMs = Math.max(50, expiryMs / 4);
    this.clock = new AwakeClock(sweepMs);
    this.sweeper = setInterval(() => this.sweep(), sweepMs);
    this.sweeper.unref();
  }

  heard(address: string, instanceId: string, state: 'up' | 'draining' | 'leaving'): void {
    if (state === 'leaving') this.remove(instanceId);
    else this.lastSeen.set(instanceId, { address, at: this.clock.now(), draining: state === 'draining' });
  }

  /** The instances of a component that take new calls. */
  instances(address: string): string[] {
    const now = this.clock.now();
    return [...this.lastSeen]
      .filter(([, seen]) => seen.address === address && !seen.draining && now - seen.at <= this.expiryMs)
      .map(([id]) => id)
      .sort();
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
    this.goneListeners.clear();
  }

  private sweep(): void {
    const now = this.clock.now();
    for (const [instanceId, seen] of this.lastSeen) if (now - seen.at > this.expiryMs) this.remove(instanceId);
  }

  private remove(instanceId: string): void {
    if (!this.lastSeen.delete(instanceId)) return;
    for (const listener of [...this.goneListeners]) listener(instanceId);
  }
}
