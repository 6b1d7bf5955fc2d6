/**
 * A queue that one side fills (`push`, then `end` or `fail`) and the other reads as an async iterable,
 * waiting while it is empty. What turns callbacks (an Observable, NATS messages) into a stream.
 */
export class AsyncQueue<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private finished = false;
  private failure: { error: unknown } | undefined;
  private wake: (() => void) | undefined;

  push(item: T): void {
    if (this.finished || this.failure) return;
    this.items.push(item);
    this.notify();
  }

  end(): void {
    this.finished = true;
    this.notify();
  }

  /** Fails the stream; items already queued are still read first. Only the first failure counts. */
  fail(error: unknown): void {
    if (this.finished || this.failure) return;
    this.failure = { error };
    this.notify();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T> {
    for (;;) {
      if (this.items.length > 0) yield this.items.shift()!;
      else if (this.failure !== undefined) throw this.failure.error;
      else if (this.finished) return;
      else await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  private notify(): void {
    this.wake?.();
    this.wake = undefined;
  }
}
