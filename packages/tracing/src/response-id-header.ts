import type { FastifyReply } from 'fastify';
import { ServerResponse } from 'node:http';
import type { OutgoingHttpHeaders } from 'node:http';

const RESPONSE_ID = Symbol('threadline:response-id');
const nodeWriteHead = ServerResponse.prototype.writeHead as (
  this: ServerResponse,
  statusCode: number,
  reason?: unknown,
  headers?: unknown,
) => ServerResponse;

type StampedResponse = ServerResponse & { [RESPONSE_ID]: string };
type WriteHeadHeaders = OutgoingHttpHeaders | readonly unknown[] | undefined;

/**
 * Returns a function that makes sure a reply is sent with the header `name: <id>`, however its head
 * gets written: by Fastify, by a raw `writeHead()`, or implicitly by a raw `write()`/`end()` (Node routes
 * those through `writeHead` too).
 *
 * Why not `reply.raw.setHeader()` up front: a header set that way makes Node merge every later
 * `writeHead(status, headers)` header by header, which cost about a tenth of a small JSON request's
 * throughput (bench/http-overhead.bench.ts). So the id goes into Fastify's own reply headers, which
 * Fastify passes to `writeHead` whole (Node's fast path), and a guard on the raw response adds it to a
 * head written any other way. A headers object the guard is given is never changed: it may be shared
 * between responses.
 */
export function responseIdHeader(name: string): (reply: FastifyReply, id: string) => void {
  function writeHeadWithId(this: StampedResponse, statusCode: number, reason?: string | WriteHeadHeaders, headers?: WriteHeadHeaders) {
    const given = typeof reason === 'string' ? headers : reason;
    const carried = given !== undefined && !Array.isArray(given) && (given as OutgoingHttpHeaders)[name] !== undefined;
    if (!carried && !this.hasHeader(name)) this.setHeader(name, this[RESPONSE_ID]);
    return nodeWriteHead.call(this, statusCode, reason, headers);
  }
  return (reply, id) => {
    reply.header(name, id);
    (reply.raw as StampedResponse)[RESPONSE_ID] = id;
    reply.raw.writeHead = writeHeadWithId as ServerResponse['writeHead'];
  };
}
