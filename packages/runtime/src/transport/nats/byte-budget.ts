/**
 * Bytes of reassembled messages held at once across calls on one side of the transport, so that many
 * large calls arriving together cannot take the process's memory: a reservation beyond the budget fails,
 * and the call gets a retryable 503.
 */
export class ByteBudget {
  private held = 0;

  constructor(readonly limit: number) {}

  tryReserve(bytes: number): boolean {
    if (this.held + bytes > this.limit) return false;
    this.held += bytes;
    return true;
  }

  release(bytes: number): void {
    this.held = Math.max(0, this.held - bytes);
  }

  get heldBytes(): number {
    return this.held;
  }
}
