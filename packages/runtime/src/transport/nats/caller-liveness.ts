/**
 * Which calling processes are alive, from the beats every process sends (frontends and other callers
 * that serve no instance among them): a callee watches the caller of each call it serves and stops the
 * call when that caller says it leaves or falls silent for `expiryMs`, so that no work goes on for a
 * caller that was killed.
 */
export class CallerLiveness {
  private readonly lastHeard = new Map<string, number>();
  private readonly watchers = new Map<string, Set<() => void>>();
  private readonly sweeper: NodeJS.Timeout;
  private lastSweep = Date.now();

  constructor(private readonly expiryMs: number) {
    this.sweeper = setInterval(() => this.sweep(), Math.max(20, Math.floor(expiryMs / 20)));
    this.sweeper.unref();
  }

  heard(processId: string, leaving: boolean): void {
    if (leaving) this.gone(processId);
    else this.lastHeard.set(processId, Date.now());
  }

  /**
   * Calls `onGone` once, when `processId` leaves or falls silent; returns the function that stops
   * watching. A caller not heard of yet (its first beat still on its way) gets `expiryMs` from now.
   */
  watch(processId: string, onGone: () => void): () => void {
    if (!this.lastHeard.has(processId)) this.lastHeard.set(processId, Date.now());
    let watchers = this.watchers.get(processId);
    if (watchers === undefined) this.watchers.set(processId, (watchers = new Set()));
    watchers.add(onGone);
    return () => {
      watchers.delete(onGone);
      if (watchers.size === 0 && this.watchers.get(processId) === watchers) this.watchers.delete(processId);
    };
  }

  close(): void {
    clearInterval(this.sweeper);
    this.lastHeard.clear();
    this.watchers.clear();
  }

  private sweep(): void {
    const now = Date.now();
    const late = now - this.lastSweep > this.expiryMs / 2;
    this.lastSweep = now;
    // A sweep this late means this process was stalled: the beats that came meanwhile are still unread,
    // so the silence is its own, not its callers'. The next sweep, after they are read, judges.
    if (late) return;
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
