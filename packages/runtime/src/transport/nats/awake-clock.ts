/**
 * A clock that stands still while this process is stalled (a long synchronous task): what peers sent
 * meanwhile could not be heard yet, so that time is no peer's silence. A stall shows as a gap between two
 * looks at the clock longer than `lookEveryMs`, the period of the owner's own timer, which looks at it.
 */
export class AwakeClock {
  /** How long this process has been stalled in all, and when it last looked at the clock. */
  private stalledMs = 0;
  private lastLook = Date.now();

  constructor(private readonly lookEveryMs: number) {}

  /** Now, less the time this process was stalled. */
  now(): number {
    const now = Date.now();
    this.stalledMs += Math.max(0, now - this.lastLook - this.lookEveryMs);
    this.lastLook = now;
    return now - this.stalledMs;
  }
}
