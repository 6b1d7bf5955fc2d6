import { AwakeClock } from './awake-clock.js';

/**
 * The clock peers' silence is measured on: it stands still while this process is stalled (`AwakeClock`),
 * and while the bus itself carries nothing, which this process tells by its own beats, heard back through
 * the bus. A stalled nats-server (or a network hiccup) silences every peer at once; peers are judged by
 * what the bus could carry, so they are not given up for its silence. Past `allowanceMs` without its own
 * beat heard, the clock stops; once the bus carries beats again, it goes on from there.
 */
export class LivenessClock {
  private readonly awake: AwakeClock;
  /** The bus's silences in all, past their allowance, and when this process last heard its own beat. */
  private busSilentMs = 0;
  private lastOwnBeat: number;

  constructor(
    lookEveryMs: number,
    private readonly allowanceMs: number,
  ) {
    this.awake = new AwakeClock(lookEveryMs);
    this.lastOwnBeat = this.awake.now();
  }

  /** This process heard one of its own beats through the bus. */
  ownBeatHeard(): void {
    const awake = this.awake.now() - this.busSilentMs;
    const stoppedAt = this.lastOwnBeat + this.allowanceMs;
    if (awake > stoppedAt) this.busSilentMs += awake - stoppedAt;
    this.lastOwnBeat = Math.min(awake, stoppedAt);
  }

  now(): number {
    return Math.min(this.awake.now() - this.busSilentMs, this.lastOwnBeat + this.allowanceMs);
  }
}
