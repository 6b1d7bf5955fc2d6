import { errorCodes } from 'fastify';
import type { FastifyRequest } from 'fastify';
import type { Readable } from 'node:stream';

/** A request body as it arrived: its chunks, in order, and their length in bytes. */
export interface BodyChunks {
  chunks: Buffer[];
  length: number;
}

/** The stream a content-type parser reads; a preParsing hook that changes the bytes says how many came. */
type Payload = Readable & { receivedEncodedLength?: number };

/**
 * Reads a request body as Fastify reads one for a parser (the same limit, the same errors: 413 over
 * `limit`, 400 for a length other than the declared one or a stream that fails), but hands over its
 * chunks as they came instead of joining them. Fastify always joins them on the event loop: for a
 * body of megabytes that is a fresh allocation and a copy of it, which a parser that hands the body to
 * a thread does not need.
 */
export function readBodyChunks(
  request: FastifyRequest,
  payload: Payload,
  limit: number,
  done: (error: Error | null, body?: BodyChunks) => void,
): void {
  const declared = Number(request.headers['content-length']);
  if (declared > limit) {
    done(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE());
    return;
  }
  const chunks: Buffer[] = [];
  let length = 0;
  const stop = () => {
    payload.removeListener('data', onData);
    payload.removeListener('end', onEnd);
    payload.removeListener('error', onEnd);
  };
  function onData(chunk: Buffer | string): void {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    length += bytes.length;
    if (length > limit || (payload.receivedEncodedLength ?? 0) > limit) {
      stop();
      done(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE());
      return;
    }
    chunks.push(bytes);
  }
  function onEnd(error?: Error & { statusCode?: number }): void {
    stop();
    if (error != null) {
      if (!(typeof error.statusCode === 'number' && error.statusCode >= 400)) error.statusCode = 400;
      done(error);
      return;
    }
    // What a preParsing hook says came, when it changed the bytes (0: it says nothing).
    const encoded = payload.receivedEncodedLength ?? 0;
    if (!Number.isNaN(declared) && (encoded > 0 ? encoded : length) !== declared) {
      done(new errorCodes.FST_ERR_CTP_INVALID_CONTENT_LENGTH());
      return;
    }
    done(null, { chunks, length });
  }
  payload.on('data', onData);
  payload.on('end', onEnd);
  payload.on('error', onEnd);
  payload.resume();
}
