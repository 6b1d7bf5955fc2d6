/**
 * The request body bytes the service holds at once, across all requests, against a cap: a body is
 * taken only when it fits whole, so what is refused is refused before any of it is read.
 */
export class BufferedBodyBudget {
  private held = 0;

  constructor(readonly limit: number) {}

  /** Bytes taken and not yet given back. */
  get heldBytes(): number {
    return this.held;
  }

  /** Takes `bytes` if they fit under the cap; `false`, taking nothing, if they do not. */
  tryTake(bytes: number): boolean {
    if (this.held + bytes > this.limit) return false;
    this.held += bytes;
    return true;
  }

  giveBack(bytes: number): void {
    this.held -= bytes;
  }
}
