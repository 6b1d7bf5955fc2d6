import { CapacityError, RATE_LIMIT_CODE } from '../../protocol/capacity.error.js';

/** A sequence's place in the scheduler: a running slot, or a place in the queue until a slot frees. */
export interface Seat {
  /** Resolves `true` once the sequence may run; `false` if it left the queue first (cancelled, or `leave()`). */
  readonly ready: Promise<boolean>;
  /** Gives back the slot, or the place in the queue; calling it again does nothing. A closure: it may be passed on alone. */
  readonly leave: () => void;
}

/**
 * Admits at most `maxRunning` sequences at once; later ones wait in FIFO order, up to `maxWaiting`,
 * beyond which the engine is at capacity (429). A waiting sequence whose request is cancelled leaves
 * the queue.
 */
export class SequenceScheduler {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    readonly maxRunning: number,
    readonly maxWaiting: number,
    /** Called whenever `load` changes. */
    private readonly onChange: () => void = () => undefined,
    /** Called when a sequence is refused because the queue is full. */
    private readonly onRefuse: () => void = () => undefined,
  ) {}

  get load(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.waiting.length };
  }

  /**
   * Takes a sequence in without waiting: a free slot, else a place in the queue. Throws a 429
   * CapacityError at once when the queue is full too, so a refusal never waits behind running work.
   */
  enter(signal: AbortSignal): Seat {
    signal.throwIfAborted();
    if (this.running < this.maxRunning) {
      this.running++;
      this.onChange();
      return this.seat(false, signal);
    }
    if (this.waiting.length >= this.maxWaiting) {
      const load = `${this.running} running, ${this.waiting.length} waiting`;
      this.onRefuse();
      throw new CapacityError(`The worker is at capacity (${load}); retry later.`, 429, RATE_LIMIT_CODE);
    }
    return this.seat(true, signal);
  }

  /** Waits for a slot; returns the function that gives it back. */
  async acquire(signal: AbortSignal): Promise<() => void> {
    const seat = this.enter(signal);
    if (!(await seat.ready)) throw signal.reason;
    return seat.leave;
  }

  private seat(queued: boolean, signal: AbortSignal): Seat {
    let state: 'queued' | 'running' | 'gone' = queued ? 'queued' : 'running';
    let settle: (ready: boolean) => void = () => undefined;
    const ready = queued ? new Promise<boolean>((resolve) => (settle = resolve)) : Promise.resolve(true);
    const admit = () => {
      state = 'running';
      signal.removeEventListener('abort', leave);
      settle(true);
    };
    const leave = () => {
      if (state === 'gone') return;
      if (state === 'queued') {
        this.waiting.splice(this.waiting.indexOf(admit), 1);
        settle(false);
      } else this.handOver();
      state = 'gone';
      signal.removeEventListener('abort', leave);
      this.onChange();
    };
    if (queued) {
      this.waiting.push(admit);
      signal.addEventListener('abort', leave, { once: true });
      this.onChange();
    }
    return { ready, leave };
  }

  // The slot passes straight to the next waiter, so `running` only drops when nobody waits.
  private handOver(): void {
    const next = this.waiting.shift();
    if (next === undefined) this.running--;
    else next();
  }
}
