import type { FastifyReply } from 'fastify';
import { ServerResponse } from 'node:http';
import type { OutgoingHttpHeaders } from 'node:http';

const RESPONSE_ID = Symbol('threadline:response-id');
// Node's own writeHead(), called with the response as `this` once the id header is in place.
// eslint-disable-next-line @typescript-eslint/unbound-method -- always called through call() with a response
const nodeWriteHead = ServerResponse.prototype.writeHead as (
  this: ServerResponse,
  statusCode: number,
  reason?: unknown,
  headers?: unknown,
) => ServerResponse;

type StampedResponse = ServerResponse & { [RESPONSE_ID]: string };
type WriteHeadHeaders = OutgoingHttpHeaders | readonly unknown[] | undefined;

/**
 * Returns a function that makes sure a reply is sent with the header `name: <id>`, however its head gets
 * written (Fastify, a raw `writeHead()`, `write()` or `end()`); a second call for the same reply does
 * nothing. The id goes into Fastify's reply headers, not `setHeader()`, to keep Node's fast path (docs/tracing.md, "Fastify"); the guard on the raw response
 * never changes a headers object it is given, which may be shared between responses.
 */
export function responseIdHeader(name: string): (reply: FastifyReply, id: string) => void {
  function writeHeadWithId(
    this: StampedResponse,
    statusCode: number,
    reason?: string | WriteHeadHeaders,
    headers?: WriteHeadHeaders,
  ) {
    const given = typeof reason === 'string' ? headers : reason;
    const carried = given !== undefined && !Array.isArray(given) && (given as OutgoingHttpHeaders)[name] !== undefined;
    if (!carried && !this.hasHeader(name)) this.setHeader(name, this[RESPONSE_ID]);
    return nodeWriteHead.call(this, statusCode, reason, headers);
  }
  return (reply, id) => {
    // Set already: on Node 22 by Nest's first hook, ahead of the module's (docs/tracing.md, "Fastify").
    if (reply.raw.writeHead === writeHeadWithId) return;
    reply.header(name, id);
    (reply.raw as StampedResponse)[RESPONSE_ID] = id;
    reply.raw.writeHead = writeHeadWithId;
  };
}
