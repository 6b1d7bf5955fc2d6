import { AwakeClock } from './awake-clock.js';

/**
 * The clock peers' silence is measured on: it stands still while this process is stalled (`AwakeClock`),
 * and for a while when the bus itself carries nothing, which this process tells by its own beats, heard
 * back through the bus. A stalled nats-server (or a network hiccup) silences every peer at once; peers are
 * judged by what the bus could carry, so they are not given up for a short silence of its. Past
 * `allowanceMs` without its own beat heard, the clock stops, for `maxPauseMs` at most: a link that stays
 * dead (this process's alone, say) is then what it looks like, and peers fall silent on it as before.
 */
export class LivenessClock {
  private readonly awake: AwakeClock;
  /** The bus's silences in all, as far as they stopped the clock, and when this process last heard its own beat. */
  private busSilentMs = 0;
  private lastOwnBeat: number;

  constructor(
    lookEveryMs: number,
    private readonly allowanceMs: number,
    private readonly maxPauseMs: number,
  ) {
    this.awake = new AwakeClock(lookEveryMs);
    this.lastOwnBeat = this.awake.now();
  }

  /** This process heard one of its own beats through the bus. */
  ownBeatHeard(): void {
    const awake = this.awake.now() - this.busSilentMs;
    const paused = this.pausedAt(awake);
    this.busSilentMs += paused;
    this.lastOwnBeat = awake - paused;
  }

  now(): number {
    const awake = this.awake.now() - this.busSilentMs;
    return awake - this.pausedAt(awake);
  }

  /** How long the clock has stood still in the bus's present silence, at `awake`. */
  private pausedAt(awake: number): number {
    return Math.min(Math.max(0, awake - this.lastOwnBeat - this.allowanceMs), this.maxPauseMs);
  }
}
