/** After the first line about a failure that repeats, at most one a minute. */
export const FAILURE_LINE_INTERVAL_MS = 60_000;

/**
 * When a failure that may repeat many times a second (an export, a peer that is down) gets a line: the
 * first of a run, then at most one per interval, each saying how many went without a line since the one
 * before; and one when it works again. The owner writes the lines; this only says when.
 */
export class RepeatedFailureLines {
  private failing = false;
  /** Failures since the last line that had none of their own. */
  private notLogged = 0;
  private lastLineAt = -Infinity;

  constructor(
    private readonly intervalMs = FAILURE_LINE_INTERVAL_MS,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /**
   * One more failure. When it is to have a line now, the number of failures before it that had none
   * since the last line; otherwise undefined, and it is counted among them.
   */
  failed(): { notLogged: number } | undefined {
    this.failing = true;
    if (this.now() - this.lastLineAt < this.intervalMs) {
      this.notLogged++;
      return undefined;
    }
    const notLogged = this.notLogged;
    this.wrote();
    return { notLogged };
  }

  /**
   * It works again. After a run of failures, a line is due: the number of failures that had none since
   * the last line. Otherwise undefined.
   */
  succeeded(): { notLogged: number } | undefined {
    if (!this.failing) return undefined;
    this.failing = false;
    const notLogged = this.notLogged;
    this.wrote();
    return { notLogged };
  }

  /** A line about it was written (by `failed`, `succeeded`, or the owner otherwise): the interval starts again. */
  wrote(): void {
    this.notLogged = 0;
    this.lastLineAt = this.now();
  }
}
