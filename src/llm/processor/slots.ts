/**
 * A fixed number of slots, taken in turn (first come, first served). A waiter whose signal aborts
 * leaves the line; a slot, once taken, is kept until it is released.
 */
export class Slots {
  private taken = 0;
  private readonly line: Array<() => void> = [];

  constructor(private readonly size: number) {}

  /** Slots taken, and waiters. */
  get demand(): number {
    return this.taken + this.line.length;
  }

  /** Resolves once a slot is the caller's; rejects with the signal's reason if it aborts first. */
  async acquire(signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    if (this.taken < this.size) {
      this.taken++;
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const leave = () => {
        this.line.splice(this.line.indexOf(turn), 1);
        // The signal's own reason, as AbortSignal-taking APIs reject with (an AbortError unless one was given).
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
        reject(signal!.reason);
      };
      const turn = () => {
        signal?.removeEventListener('abort', leave);
        resolve();
      };
      this.line.push(turn);
      signal?.addEventListener('abort', leave, { once: true });
    });
  }

  /** Gives the slot to the next waiter, if any, or frees it. */
  release(): void {
    const next = this.line.shift();
    if (next === undefined) this.taken--;
    else next();
  }
}
