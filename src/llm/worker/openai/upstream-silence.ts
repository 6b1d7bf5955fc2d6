/**
 * Watches an upstream's stream for silence: `onSilent` runs once nothing was heard for `timeoutMs` (the
 * client library's own timeout covers only the wait for the response's head). One timer, refreshed
 * at every chunk rather than made anew.
 */
export class UpstreamSilence {
  private readonly timer: NodeJS.Timeout;
  private silent = false;

  constructor(timeoutMs: number, onSilent: () => void) {
    this.timer = setTimeout(() => {
      this.silent = true;
      onSilent();
    }, timeoutMs);
  }

  /** Whether the upstream went silent for too long (and `onSilent` ran). */
  get broken(): boolean {
    return this.silent;
  }

  heard(): void {
    this.timer.refresh();
  }

  stop(): void {
    clearTimeout(this.timer);
  }
}
