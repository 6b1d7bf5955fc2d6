import { AwakeClock } from './awake-clock.js';

/**
 * Which calling processes are alive, from the beats every process sends (frontends and other callers
 * that serve no instance among them): a callee stops the calls of a caller that says it leaves or falls
 * silent for `expiryMs`, so that no work goes on for a caller that was killed. Silence is measured on a
 * clock that stands still while this process is stalled (`AwakeClock`): the beats that came meanwhile
 * are still unread then. A call only says whose it is (`expect`); the callee finds the calls of a
 * process when it goes, which is rare, rather than each call registering a watch of its own.
 */
export class CallerLiveness {
  private readonly lastHeard = new Map<string, number>();
  private readonly sweeper: NodeJS.Timeout;
  private readonly clock: { now(): number };
  private readonly goneListeners = new Set<(processId: string, silentMs: number | undefined) => void>();

  /** `clock` measures silence; by default one that stands still while this process is stalled. */
  constructor(
    private readonly expiryMs: number,
    clock?: { now(): number },
  ) {
    const sweepMs = Math.max(20, Math.floor(expiryMs / 20));
    this.clock = clock ?? new AwakeClock(sweepMs);
    this.sweeper = setInterval(() => this.sweep(), sweepMs);
    this.sweeper.unref();
  }

  /**
   * Calls `listener` with each process that leaves (`silentMs` undefined) or falls silent (for
   * `silentMs`, as this process measures it); returns the function that stops it.
   */
  onGone(listener: (processId: string, silentMs: number | undefined) => void): () => void {
    this.goneListeners.add(listener);
    return () => this.goneListeners.delete(listener);
  }

  heard(processId: string, leaving: boolean): void {
    if (leaving) this.gone(processId, undefined);
    else this.lastHeard.set(processId, this.clock.now());
  }

  /**
   * A call from `processId` starts: a caller not heard of yet (its first beat still on its way, or gone
   * already) gets `expiryMs` from now to be heard.
   */
  expect(processId: string): void {
    if (!this.lastHeard.has(processId)) this.lastHeard.set(processId, this.clock.now());
  }

  close(): void {
    clearInterval(this.sweeper);
    this.lastHeard.clear();
    this.goneListeners.clear();
  }

  private sweep(): void {
    const now = this.clock.now();
    for (const [processId, at] of this.lastHeard) if (now - at > this.expiryMs) this.gone(processId, now - at);
  }

  private gone(processId: string, silentMs: number | undefined): void {
    this.lastHeard.delete(processId);
    for (const listener of this.goneListeners) listener(processId, silentMs);
  }
}
