import { AwakeClock } from './awake-clock.js';

/**
 * Which calling processes are alive, from the beats every process sends (frontends and other callers
 * that serve no instance among them): a callee watches the caller of each call it serves and stops the
 * call when that caller says it leaves or falls silent for `expiryMs`, so that no work goes on for a
 * caller that was killed. Silence is measured on a clock that stands still while this process is
 * stalled (`AwakeClock`): the beats that came meanwhile are still unread then.
 */
export class CallerLiveness {
  private readonly lastHeard = new Map<string, number>();
  private readonly watchers = new Map<string, Set<() => void>>();
  private readonly sweeper: NodeJS.Timeout;
  private readonly clock: AwakeClock;

  constructor(private readonly expiryMs: number) {
    const sweepMs = Math.max(20, Math.floor(expiryMs / 20));
    this.clock = new AwakeClock(sweepMs);
    this.sweeper = setInterval(() => this.sweep(), sweepMs);
    this.sweeper.unref();
  }

  heard(processId: string, leaving: boolean): void {
    if (leaving) this.gone(processId);
    else this.lastHeard.set(processId, this.clock.now());
  }

  /**
   * Calls `onGone` once, when `processId` leaves or falls silent; returns the function that stops
   * watching. A caller not heard of yet (its first beat still on its way) gets `expiryMs` from now.
   */
  watch(processId: string, onGone: () => void): () => void {
    if (!this.lastHeard.has(processId)) this.lastHeard.set(processId, this.clock.now());
    let watchers = this.watchers.get(processId);
    if (watchers === undefined) this.watchers.set(processId, (watchers = new Set()));
    watchers.add(onGone);
    // The set stays while its process lives (one per calling process), so a caller's next call reuses it.
    return () => watchers.delete(onGone);
  }

  close(): void {
    clearInterval(this.sweeper);
    this.lastHeard.clear();
    this.watchers.clear();
  }

  private sweep(): void {
    const now = this.clock.now();
    for (const [processId, at] of this.lastHeard) if (now - at > this.expiryMs) this.gone(processId);
  }

  private gone(processId: string): void {
    this.lastHeard.delete(processId);
    const watchers = this.watchers.get(processId);
    if (watchers === undefined) return;
    this.watchers.delete(processId);
    for (const onGone of [...watchers]) onGone();
  }
}
