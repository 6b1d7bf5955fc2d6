import type { FastifyAdapter } from '@nestjs/platform-fastify';
import { errorCodes } from 'fastify';
import type { FastifyBodyParser, FastifyRequest } from 'fastify';
import { Piscina } from 'piscina';
import { parseJsonBody } from './json-body.worker.mjs';
import type { ParsedJsonBody } from './json-body.worker.mjs';
import { readBodyChunks } from './request-body-chunks.js';

/**
 * A JSON body of at least this many bytes is parsed in a thread: parsing it on the event loop would
 * hold up every other request for as long (some milliseconds a megabyte, and more in garbage).
 */
export const OFFLOAD_MIN_BYTES = 256 * 1024;

/**
 * How much less CPU the thread gets than the event loop when both want it (Linux's nice, for the
 * thread alone): a flood of large bodies must not take the core that answers everyone else.
 */
const THREAD_NICE_INCREMENT = 10;

/**
 * Parses `application/json` bodies as Fastify's default parser does (the same 400s for a body that is
 * empty, not JSON, or poisoned, the same 413 over the limit), a large one in a thread of its own so
 * that the event loop only copies the parsed value back. A large body's chunks go to the thread as
 * they arrived, not joined on the event loop first (a fresh allocation and a copy of megabytes a body,
 * and, under a flood of them, garbage collections for the memory outside the heap). The bodies held
 * at once are bounded by the body budget, and so is the thread's queue. The thread starts with the
 * first large body and ends when the app closes.
 */
export function installJsonBodyParser(adapter: FastifyAdapter, bodyLimit: number): void {
  const fastify = adapter.getInstance();
  // Typed for a string, Fastify's parser takes a buffer as well (Nest's default parser passes one).
  const inline = fastify.getDefaultJsonParser(
    fastify.initialConfig.onProtoPoisoning ?? 'error',
    fastify.initialConfig.onConstructorPoisoning ?? 'error',
  ) as unknown as FastifyBodyParser<Buffer>;
  // Fastify's parser answers a body with a forbidden key as one that is not JSON: told apart here, on
  // that failure alone, so that the client learns which it was.
  const parseInline = (request: FastifyRequest, text: Buffer, done: (error: Error | null, value?: unknown) => void) =>
    void inline(request, text, (error: Error | null, value?: unknown) => {
      const parsed = error === null ? undefined : parseJsonBody([text]);
      done(parsed?.ok === false && parsed.poisoned === true ? new PoisonedJsonBodyError() : error, value);
    });
  let pool: Piscina<Uint8Array[], ParsedJsonBody> | undefined;
  const parseInThread = (chunks: Buffer[], done: (error: Error | null, value?: unknown) => void) => {
    pool ??= new Piscina({
      filename: new URL('./json-body.worker.mjs', import.meta.url).href,
      minThreads: 0,
      maxThreads: 1,
      idleTimeout: Infinity,
      execArgv: [],
      niceIncrement: THREAD_NICE_INCREMENT,
    });
    const owned = chunks.map(ownBytes);
    pool.run(owned, { transferList: owned.map((chunk) => chunk.buffer as ArrayBuffer) }).then(
      (parsed) => {
        if (!parsed.ok)
          return done(parsed.poisoned ? new PoisonedJsonBodyError() : new errorCodes.FST_ERR_CTP_INVALID_JSON_BODY());
        // The promise piscina resolves with `parsed` was made when the body was queued, and one that
        // waited through a young-generation collection is old. A young collection takes what old objects
        // point to as live, dead or not: `parsed`, and the body's megabytes with it, would move to the old
        // generation and wait there for a full collection. Taken out of `parsed`, the body dies young.
        const { value } = parsed;
        parsed.value = undefined;
        done(null, value);
      },
      (error: Error) => done(error),
    );
  };
  // Nest registers its own JSON parser as the app initialises unless one was given to it: given one
  // here, it leaves the type alone, and the parser is replaced by one that reads the body's stream.
  adapter.useBodyParser('application/json', false, { bodyLimit });
  fastify.removeContentTypeParser('application/json');
  // JSON alone: Fastify's own text/plain parser would take a body that a page of any origin may post
  // without a preflight (a CORS "simple" type), and hand on a string where an object is read.
  fastify.removeContentTypeParser('text/plain');
  fastify.addContentTypeParser('application/json', { bodyLimit }, (request, payload, done) => {
    // A compressed body would be read as text: refused, as a type the server does not take.
    if (!isIdentity(request.headers['content-encoding'])) return done(new errorCodes.FST_ERR_CTP_INVALID_MEDIA_TYPE());
    readBodyChunks(request, payload, bodyLimit, (error, body) => {
      if (error !== null || body === undefined) done(error);
      else if (body.length < OFFLOAD_MIN_BYTES) parseInline(request, Buffer.concat(body.chunks, body.length), done);
      else parseInThread(body.chunks, done);
    });
  });
  fastify.addHook('onClose', async () => {
    await pool?.destroy();
  });
}

/** A JSON body refused for a key that could reach the prototype of the objects read from it. */
class PoisonedJsonBodyError extends Error {
  readonly statusCode = 400;

  constructor() {
    super(
      'The body holds a `__proto__` key, or a `constructor` key holding `prototype`: no request takes them, and they are refused.',
    );
  }
}

/** Whether a `Content-Encoding` header leaves the body as it is (none, or `identity`). */
function isIdentity(encoding: string | undefined): boolean {
  return encoding === undefined || encoding.trim() === '' || encoding.trim().toLowerCase() === 'identity';
}

/**
 * `chunk`'s bytes in a memory of their own, to be moved to the thread rather than copied: a chunk Node
 * read from the socket has one; a slice of a shared pool is copied.
 */
function ownBytes(chunk: Buffer): Uint8Array {
  if (
    chunk.byteOffset === 0 &&
    chunk.buffer.byteLength === chunk.length &&
    !(chunk.buffer instanceof SharedArrayBuffer)
  )
    return chunk;
  return new Uint8Array(chunk);
}
