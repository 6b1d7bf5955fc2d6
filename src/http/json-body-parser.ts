import type { FastifyAdapter } from '@nestjs/platform-fastify';
import { errorCodes } from 'fastify';
import type { FastifyBodyParser } from 'fastify';
import { Piscina } from 'piscina';
import type { ParsedJsonBody } from './json-body.worker.mjs';

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
 * empty, not JSON, or poisoned), a large one in a thread of its own so that the event loop only copies
 * the parsed value back. The bodies held at once are bounded by the body budget, and so is the
 * thread's queue. The thread starts with the first large body and ends when the app closes.
 */
export function installJsonBodyParser(adapter: FastifyAdapter, bodyLimit: number): void {
  const fastify = adapter.getInstance();
  // Typed for a string, Fastify's parser takes a buffer as well (Nest's default parser passes one).
  const inline = fastify.getDefaultJsonParser(
    fastify.initialConfig.onProtoPoisoning ?? 'error',
    fastify.initialConfig.onConstructorPoisoning ?? 'error',
  ) as unknown as FastifyBodyParser<Buffer>;
  let pool: Piscina<Uint8Array, ParsedJsonBody> | undefined;
  const parser: FastifyBodyParser<Buffer> = (request, body, done) => {
    if (body.length < OFFLOAD_MIN_BYTES) {
      void inline(request, body, done);
      return;
    }
    pool ??= new Piscina({
      filename: new URL('./json-body.worker.mjs', import.meta.url).href,
      minThreads: 0,
      maxThreads: 1,
      idleTimeout: Infinity,
      execArgv: [],
      niceIncrement: THREAD_NICE_INCREMENT,
    });
    pool.run(Piscina.move(ownBytes(body)) as Uint8Array).then(
      (parsed) => (parsed.ok ? done(null, parsed.value) : done(new errorCodes.FST_ERR_CTP_INVALID_JSON_BODY())),
      (error: Error) => done(error),
    );
  };
  adapter.useBodyParser('application/json', false, { bodyLimit }, parser);
  fastify.addHook('onClose', async () => {
    await pool?.destroy();
  });
}

/** `body`'s bytes in a memory of their own, to be moved to the thread rather than copied. */
function ownBytes(body: Buffer): Uint8Array {
  if (body.byteOffset === 0 && body.buffer.byteLength === body.length && !(body.buffer instanceof SharedArrayBuffer))
    return body;
  return new Uint8Array(body);
}
