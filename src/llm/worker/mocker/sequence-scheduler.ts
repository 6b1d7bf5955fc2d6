import { InvalidRequestError } from '../../protocol/invalid-request.error.js';

/**
 * Admits at most `maxRunning` sequences at once; later ones wait in FIFO order, up to `maxWaiting`,
 * beyond which the engine is overloaded (503). A waiting sequence whose request is cancelled leaves
 * the queue.
 */
export class SequenceScheduler {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    private readonly maxRunning: number,
    readonly maxWaiting: number,
    /** Called whenever `load` changes. */
    private readonly onChange: () => void = () => undefined,
  ) {}

  get load(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.waiting.length };
  }

  /** Waits for a slot; returns the function that gives it back. */
  async acquire(signal: AbortSignal): Promise<() => void> {
    signal.throwIfAborted();
    if (this.running < this.maxRunning) {
      this.running++;
      this.onChange();
      return this.releaser();
    }
    if (this.waiting.length >= this.maxWaiting) {
      throw new InvalidRequestError('The worker is overloaded; retry later.', undefined, 503, 'overloaded');
    }
    await new Promise<void>((resolve, reject) => {
      const admit = () => {
        signal.removeEventListener('abort', leave);
        resolve();
      };
      const leave = () => {
        this.waiting.splice(this.waiting.indexOf(admit), 1);
        this.onChange();
        reject(signal.reason);
      };
      this.waiting.push(admit);
      this.onChange();
      signal.addEventListener('abort', leave, { once: true });
    });
    return this.releaser();
  }

  // The slot passes straight to the next waiter, so `running` only drops when nobody waits.
  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next === undefined) this.running--;
      else next();
      this.onChange();
    };
  }
}
