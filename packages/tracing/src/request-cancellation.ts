/**
 * The cancellation of one request in this process: an `AbortSignal` that every hop of the request
 * shares. Its controller is made the first time someone asks for the signal, so requests whose code
 * never looks at it pay nothing for it.
 * @publicApi
 */
export class RequestCancellation {
  private controller: AbortController | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;
  /** Told of the cancellation without a signal made for them (`onAbort`). */
  private listeners: Array<(reason: unknown) => void> | undefined;

  /** `attach` is called once, with the abort function, when the signal is first asked for. */
  constructor(private readonly attach?: (abort: (reason: unknown) => void) => void) {}

  /** A cancellation that follows `signal` (a remote caller's, a timeout's). */
  static following(signal: AbortSignal): RequestCancellation {
    return new RequestCancellation((abort) => {
      if (signal.aborted) abort(signal.reason);
      else signal.addEventListener('abort', () => abort(signal.reason), { once: true });
    });
  }

  /** Whether the request was cancelled (without making a signal when nobody asked for one yet). */
  get aborted(): boolean {
    return this.controller?.signal.aborted ?? false;
  }

  get signal(): AbortSignal {
    if (this.controller === undefined) {
      const controller = new AbortController();
      this.controller = controller;
      this.attach?.((reason) => controller.abort(reason));
    }
    return this.controller.signal;
  }

  abort(reason: unknown): void {
    const signal = this.signal;
    if (signal.aborted) return;
    this.controller!.abort(reason);
    const listeners = this.listeners;
    this.listeners = undefined;
    if (listeners !== undefined) for (const listener of listeners) listener(reason);
  }

  /**
   * Calls `listener` once, after the signal's own listeners, when the request is cancelled (never, when
   * it already is); returns the function that stops listening. For the runtime's own watch of the calls
   * a request makes, which would otherwise make a signal, and a listener on it, for every request.
   */
  onAbort(listener: (reason: unknown) => void): () => void {
    if (this.aborted) return ignore;
    (this.listeners ??= []).push(listener);
    return () => {
      const index = this.listeners?.indexOf(listener) ?? -1;
      if (index >= 0) this.listeners!.splice(index, 1);
    };
  }

  /** Aborts with a `DeadlineExceededError` at `deadline` (epoch ms), at once if it has passed. */
  abortAt(deadline: number): void {
    clearTimeout(this.deadlineTimer);
    const wait = deadline - Date.now();
    if (wait <= 0) return this.abort(new DeadlineExceededError());
    this.deadlineTimer = setTimeout(() => this.abort(new DeadlineExceededError()), wait);
    // The request's own work keeps the process up, not the wait for its deadline.
    this.deadlineTimer.unref();
  }

  /** Lets go of the deadline's timer, once the request can no longer be cancelled. */
  release(): void {
    clearTimeout(this.deadlineTimer);
    this.deadlineTimer = undefined;
  }
}

function ignore(): void {}

/**
 * The reason a request's signal aborts when its deadline passes. An expected outcome, not a fault: it
 * carries a `504` status and the `deadline_exceeded` code, which the runtime passes on to the caller.
 * @publicApi
 */
export class DeadlineExceededError extends Error {
  readonly status = 504;
  readonly code = 'deadline_exceeded';
  readonly expected = true;

  constructor() {
    super("The request's deadline passed before its answer was complete.");
    this.name = 'DeadlineExceededError';
  }
}

/**
 * The reason a request's signal aborts when its HTTP client goes away before the response ends: what
 * work stopped by it fails with, nginx's 499 (nobody reads the answer; the status is for logs and metrics).
 * @publicApi
 */
export class ClientDisconnectedError extends Error {
  readonly status = 499;
  readonly code = 'cancelled';
  readonly expected = true;

  constructor() {
    super('The client disconnected before the response was complete.');
    this.name = 'ClientDisconnectedError';
  }
}
