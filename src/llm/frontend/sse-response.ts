import type { ServerResponse } from 'node:http';

/** Response headers as Fastify's `reply.getHeaders()` returns them. */
export type ReplyHeaders = Record<string, string | number | string[] | undefined>;

/**
 * A server-sent-events response written straight to the socket, as a bare Node server would: no
 * stream object between the pipeline and the socket, so a streamed token crosses no more layers than
 * it has to. Waits when the socket is full; `closed` tells the writer the client has gone.
 */
export class SseResponse {
  private gone = false;
  private waiting: (() => void) | undefined;

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
    return this.closed || this.response.write(chunk);
  }

  /** Resolves once the socket has room again, or the client has gone. */
  drained(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise<void>((resolve) => (this.waiting = resolve));
  }

  end(chunk: string): void {
    if (!this.closed) this.response.end(chunk);
  }
}
