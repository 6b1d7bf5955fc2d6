import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Logger } from 'pino';
import { cancelStore, getCurrentStore } from '@threadline/tracing/internal';
import type { RequestStore } from '@threadline/tracing/internal';
import type { OpenAIErrorBody } from '../llm/frontend/openai-error.js';

const SHUTTING_DOWN_CODE = 'shutting_down';

/** Answered while stopping: the process is alive (liveness), and a last scrape sees how the stop went. */
const STILL_SERVED = new Set(['/health', '/metrics']);

/** How long requests stopped at the end of the grace get to send their last bytes before their sockets go. */
const FLUSH_MS = 1000;

/**
 * The reason the requests still running at the end of a shutdown's grace are stopped: what their work
 * fails with, and the error event a stream ends with. A 503, which a client may retry elsewhere.
 */
export class ShuttingDownError extends Error {
  readonly status = 503;
  readonly code = SHUTTING_DOWN_CODE;
  readonly expected = true;

  constructor() {
    super('The server shut down before the request was complete; retry it.');
    this.name = 'ShuttingDownError';
  }
}

/**
 * The HTTP side of a stop (SIGTERM): from its start, a new request is answered `503 shutting_down`
 * with `Connection: close` (`/ready` too: no new work should come; `/health` and `/metrics` are still
 * served). Those in flight may finish for `graceMs` (THREADLINE_SHUTDOWN_GRACE_MS); the rest are
 * stopped through their requests' cancellation, so that a stream ends with an error event rather than
 * a cut connection, and the process exits in bounded time. Fastify's own close would wait for every
 * response, however long a generation runs.
 */
export class HttpShutdownGrace {
  private readonly inFlight = new Map<FastifyReply, RequestStore | undefined>();
  private closing = false;

  constructor(
    private readonly graceMs: number,
    private readonly retryAfterSeconds: number,
    private readonly logger: Logger,
  ) {}

  /**
   * Adds the hook that counts requests in and refuses them once the stop has begun. Call it after the
   * CORS plugin is registered: it is added as a plugin of the root (not encapsulated), so that it runs
   * after the CORS hook and its refusals carry CORS headers too (a page reads their status and id).
   */
  install(fastify: FastifyInstance): void {
    const plugin = async (root: FastifyInstance) => {
      root.addHook('onRequest', (request, reply, done) => {
        if (this.closing && !STILL_SERVED.has(request.routeOptions.url ?? ''))
          return this.refuse(reply, 'request refused: the service is shutting down');
        this.inFlight.set(reply, getCurrentStore());
        reply.raw.once('close', () => this.inFlight.delete(reply));
        done();
      });
    };
    // Fastify's documented alternative to fastify-plugin: the hook applies to every route.
    Object.assign(plugin, { [Symbol.for('skip-override')]: true });
    void fastify.register(plugin);
  }

  /** Refuses new requests, waits for those in flight up to the grace, then stops the rest. */
  async drain(): Promise<void> {
    this.closing = true;
    // Their connections carry no next request: it would only be refused.
    for (const reply of this.inFlight.keys()) if (!reply.raw.headersSent) reply.raw.setHeader('connection', 'close');
    if (await this.settled(this.graceMs)) return;
    this.logger.warn(`stopping ${this.inFlight.size} request(s) still running at the end of the shutdown grace period`);
    for (const store of this.inFlight.values()) if (store !== undefined) cancelStore(store, new ShuttingDownError());
    if (await this.settled(FLUSH_MS)) return;
    // What a cancellation could not end: a request whose body is still arriving, say (no handler runs yet).
    for (const reply of this.inFlight.keys()) {
      if (!reply.sent && !reply.raw.headersSent) this.refuse(reply, 'request stopped: the service shut down');
    }
    if (await this.settled(FLUSH_MS)) return;
    for (const reply of this.inFlight.keys()) reply.raw.destroy();
  }

  private refuse(reply: FastifyReply, line: string): void {
    reply.log.warn({ status: 503, code: SHUTTING_DOWN_CODE }, line);
    void reply
      .code(503)
      .header('connection', 'close')
      .header('retry-after', String(this.retryAfterSeconds))
      .send(refusalBody(reply.request.id));
  }

  /** Whether every request in flight has ended within `ms`. */
  private async settled(ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (this.inFlight.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    return this.inFlight.size === 0;
  }
}

function refusalBody(requestId: string): OpenAIErrorBody {
  return {
    error: {
      message: `The server is shutting down; retry the request (request id ${requestId}).`,
      type: 'server_error',
      param: null,
      code: SHUTTING_DOWN_CODE,
    },
  };
}
