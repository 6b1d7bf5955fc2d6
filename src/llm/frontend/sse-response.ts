import type { ServerResponse } from 'node:http';

/** Response headers as Fastify's `reply.getHeaders()` returns them. */
export type ReplyHeaders = Record<string, string | number | string[] | undefined>;

/**
 * A server-sent-events response written straight to the socket, as a bare Node server would: no
 * stream object between the pipeline and the socket, so a streamed token crosses no more layers than
 * it has to. Waits when the socket is full; `closed` tells the writer the client has gone.
 *
 * The events written in one turn of the event loop (a worker hands on several tokens a turn) go to the
 * response as one chunk at its end, when Node would send them in one socket write anyway: one chunk
 * of the chunked encoding instead of one per event, which costs Node and the kernel less per token.
 */
export class SseResponse {
  private gone = false;
  private waiting: (() => void) | undefined;
  /** The events written in this turn, not yet handed to the response. */
  private pending = '';
  private flushQueued = false;

  constructor(private readonly response: ServerResponse) {
    const wake = () => {
      this.waiting?.();
      this.waiting = undefined;
    };
    response.on('drain', wake);
    response.once('close', () => {
      this.gone = true;
      wake();
    });
  }

  /**
   * Sends the status and headers now, so a client sees the response start before the first event.
   * `headers` are the ones already set for this reply (by Fastify hooks and plugins: CORS, the id).
   */
  open(headers: ReplyHeaders): void {
    this.response.writeHead(200, {
      ...headers,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
    });
  }

  /** Whether the client has gone (or the response was ended): nothing written now reaches anyone. */
  get closed(): boolean {
    return this.gone || this.response.writableEnded;
  }

  /** Writes `chunk`; `false` when the socket is full and the writer should wait for `drained()`. */
  write(chunk: string): boolean {
    if (this.closed) return true;
    this.pending += chunk;
    // Enough to fill the socket's buffer goes now: what it answers is what the writer must hear.
    if (this.pending.length >= this.response.writableHighWaterMark) return this.flush();
    if (!this.flushQueued) {
      this.flushQueued = true;
      // A tick queued from a microtask runs once the microtasks queued meanwhile have run too.
      queueMicrotask(() => process.nextTick(() => this.flush()));
    }
    return !this.response.writableNeedDrain;
  }

  /** Hands the events written so far to the response; what its `write` answers. */
  private flush(): boolean {
    this.flushQueued = false;
    const chunk = this.pending;
    this.pending = '';
    return chunk === '' || this.closed || this.response.write(chunk);
  }

  /** Resolves once the socket has room again, or the client has gone. */
  drained(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise<void>((resolve) => (this.waiting = resolve));
  }

  end(chunk: string): void {
    const pending = this.pending;
    this.pending = '';
    if (!this.closed) this.response.end(pending + chunk);
  }
}
