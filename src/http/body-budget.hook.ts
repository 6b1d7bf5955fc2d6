import type { FastifyInstance, FastifyReply, FastifyRequest, preParsingHookHandler, RouteOptions } from 'fastify';
import type { Socket } from 'node:net';
import { Transform } from 'node:stream';
import type { OpenAIErrorBody } from '../llm/frontend/openai-error.js';
import type { BufferedBodyBudget } from './buffered-body-budget.js';
import { LingeringConnections } from './lingering-connections.js';

const BODYLESS = new Set(['GET', 'HEAD', 'OPTIONS']);
const BUSY_CODE = 'request_bodies_at_capacity';

/**
 * What becomes of the unread rest of a refused body once the answer is out: read and dropped by Node
 * (`drain`, the connection stays usable), or never read, the connection closed (`close`).
 */
type UnreadBody = 'drain' | 'close';

/** Answers a request whose body does not fit. */
type Refuse = (request: FastifyRequest, reply: FastifyReply, unread: UnreadBody) => void;

/** A refused body up to this size is drained, so that its connection stays usable; a larger one's is closed. */
const DRAIN_MAX_BYTES = 64 * 1024;

/**
 * How long a connection refused with its body unread is kept once the answer is out, at most: time
 * enough for the answer to reach the client and be read.
 */
const LINGER_MS = 2000;

/** The share of MAX_CONNECTIONS that refused connections kept open after their answer may hold. */
const LINGERING_SHARE = 1 / 4;

/**
 * Holds the request bodies being buffered to `budget`: each body is counted from the moment its head
 * arrives until its response closes (the parsed body lives that long), and one that would pass the
 * cap is answered at once with a 503, `Retry-After` and an OpenAI error body, before any of it is read.
 * A body of known length is counted whole; a chunked one chunk by chunk, and refused mid-way, with its
 * connection closed, if it outgrows what is left. Only routes that take a body pay for the hook.
 * `maxConnections` is the server's cap: refused connections kept open after their answer hold at most
 * a quarter of it.
 */
export function installBodyBudget(
  fastify: FastifyInstance,
  budget: BufferedBodyBudget,
  retryAfterSeconds: number,
  maxConnections: number,
): void {
  const lingering = new LingeringConnections(Math.max(1, Math.floor(maxConnections * LINGERING_SHARE)), LINGER_MS);
  const refuse = busyRefusal(budget, retryAfterSeconds, lingering);
  fastify.addHook('onRoute', (route: RouteOptions) => {
    const methods = [route.method].flat();
    if (!methods.some((method) => !BODYLESS.has(method.toUpperCase()))) return;
    const bodyLimit = route.bodyLimit ?? fastify.initialConfig.bodyLimit ?? Number.POSITIVE_INFINITY;
    const holdBody: preParsingHookHandler = (request, reply, payload, done) => {
      const length = Number(request.headers['content-length']);
      if (length > 0) {
        // A body over the route's limit is Fastify's to refuse (413): none of it will be buffered.
        if (length > bodyLimit) return done(null, payload);
        if (!budget.tryTake(length)) return refuse(request, reply, length <= DRAIN_MAX_BYTES ? 'drain' : 'close');
        reply.raw.once('close', () => budget.giveBack(length));
        return done(null, payload);
      }
      if (request.headers['transfer-encoding'] === undefined) return done(null, payload);
      done(null, countedChunks(request, reply, budget, refuse));
    };
    route.preParsing = [holdBody, ...(route.preParsing === undefined ? [] : [route.preParsing].flat())];
  });
}

/** The request's chunks, each taken from `budget` as it arrives; all given back when the response closes. */
function countedChunks(
  request: FastifyRequest,
  reply: FastifyReply,
  budget: BufferedBodyBudget,
  refuse: Refuse,
): Transform {
  let taken = 0;
  const counted = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      if (budget.tryTake(chunk.length)) {
        taken += chunk.length;
        callback(null, chunk);
        return;
      }
      request.raw.unpipe(counted);
      refuse(request, reply, 'close');
    },
  });
  reply.raw.once('close', () => budget.giveBack(taken));
  request.raw.once('error', (error) => counted.destroy(error));
  request.raw.pipe(counted);
  return counted;
}

function busyRefusal(budget: BufferedBodyBudget, retryAfterSeconds: number, lingering: LingeringConnections): Refuse {
  return (request, reply, unread) => {
    request.log.warn(
      { status: 503, code: BUSY_CODE, heldBytes: budget.heldBytes, limit: budget.limit },
      'request refused: request bodies held at their limit',
    );
    if (unread === 'close') {
      // Reading a large body to drop it costs what reading it would. Left unread, the connection can
      // carry no other request: `Connection: close` says so, so that the client's next request takes a
      // new connection instead of waiting behind the unread body. The request stops asking for data, so
      // that Node does not read the body while the answer goes out.
      void reply.header('connection', 'close');
      request.raw._read = () => {};
      request.raw.socket.pause();
      closeWhenAnswered(request.raw.socket, lingering);
    }
    void reply.code(503).header('retry-after', String(retryAfterSeconds)).send(busyBody(request.id, retryAfterSeconds));
  };
}

/**
 * Ends `socket` once the answer is out, without reading the rest of the body. Node ends a `Connection:
 * close` response's connection with `destroySoon()`: closed at once with the body still arriving, the
 * connection is reset by the kernel, and the reset can reach the client before it has read its answer.
 * So the connection is half-closed instead, still reading nothing, and held by `lingering`, which
 * closes it `LINGER_MS` later, or sooner when too many are held. One that goes on sending is held back.
 */
function closeWhenAnswered(socket: Socket, lingering: LingeringConnections): void {
  socket.destroySoon = () => {
    socket.end();
    lingering.hold(socket);
  };
}

function busyBody(requestId: string, retryAfterSeconds: number): OpenAIErrorBody {
  return {
    error: {
      message: `The server is receiving too many request bodies at once; retry after ${retryAfterSeconds} s (request id ${requestId}).`,
      type: 'server_error',
      param: null,
      code: BUSY_CODE,
    },
  };
}
