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
 * Returns a function that makes sure a response is sent with the header `name: <id>`, however its head
 * gets written: by Fastify, by a raw `writeHead()`, or implicitly by a raw `write()`/`end()` (Node routes
 * those through `writeHead` too).
 *
 * Why not `response.setHeader()` up front: a header set that way makes Node merge every later
 * `writeHead(status, headers)` header by header, which cost about a tenth of a small JSON request's
 * throughput (bench/http-overhead.bench.ts). Fastify's replies already carry the header in the object
 * they pass to `writeHead` (the caller adds it with `reply.header()`), so they keep Node's fast path;
 * only heads written some other way get it added here. A headers object the caller passes is never
 * changed: it may be shared between responses.
 */
export function responseIdHeader(name: string): (response: ServerResponse, id: string) => void {
  function writeHeadWithId(this: StampedResponse, statusCode: number, reason?: string | WriteHeadHeaders, headers?: WriteHeadHeaders) {
    const given = typeof reason === 'string' ? headers : reason;
    const carried = given !== undefined && !Array.isArray(given) && (given as OutgoingHttpHeaders)[name] !== undefined;
    if (!carried && !this.hasHeader(name)) this.setHeader(name, this[RESPONSE_ID]);
    return nodeWriteHead.call(this, statusCode, reason, headers);
  }
  return (response, id) => {
    (response as StampedResponse)[RESPONSE_ID] = id;
    response.writeHead = writeHeadWithId as ServerResponse['writeHead'];
  };
}
