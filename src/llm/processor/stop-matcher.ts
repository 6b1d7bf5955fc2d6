/**
 * Finds stop sequences in streamed text. Text that could be the start of a stop sequence is held back
 * until it is known not to be one, so no part of a stop sequence is ever sent.
 */
export class StopMatcher {
  private pending = '';
  private readonly holdBack: number;

  constructor(private readonly stops: readonly string[]) {
    this.holdBack = Math.max(0, ...stops.map((stop) => stop.length - 1));
  }

  /** The text that is safe to send now, and whether a stop sequence was reached. */
  push(text: string): { text: string; stopped: boolean } {
    if (this.stops.length === 0) return { text, stopped: false };
    this.pending += text;
    let cut = -1;
    for (const stop of this.stops) {
      const at = this.pending.indexOf(stop);
      if (at !== -1 && (cut === -1 || at < cut)) cut = at;
    }
    if (cut !== -1) {
      const safe = this.pending.slice(0, cut);
      this.pending = '';
      return { text: safe, stopped: true };
    }
    const safeLength = Math.max(0, this.pending.length - this.holdBack);
    const safe = this.pending.slice(0, safeLength);
    this.pending = this.pending.slice(safeLength);
    return { text: safe, stopped: false };
  }

  /** The held-back text, when the stream ends without a stop sequence. */
  flush(): string {
    const rest = this.pending;
    this.pending = '';
    return rest;
  }
}
