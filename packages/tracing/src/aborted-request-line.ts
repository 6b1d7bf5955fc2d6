import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { RequestStore } from './request-context.js';

const ABORTED_REQUEST_LINE = Symbol('threadline:aborted-request-line');

/** Writes the access line of a request whose connection closed before its response was complete. */
export type AbortedRequestLine = (request: IncomingMessage, store: RequestStore) => void;

interface LineHolder {
  [ABORTED_REQUEST_LINE]?: AbortedRequestLine;
}

/**
 * Gives `server` the line its requests write when their connection closes before the response is
 * complete. Kept on the server rather than on each response: only such a request looks for it.
 */
export function setAbortedRequestLine(server: Server, line: AbortedRequestLine): void {
  (server as Server & LineHolder)[ABORTED_REQUEST_LINE] = line;
}

/** The line the server of `response` writes for it once it was cut short, if it has one. */
export function abortedRequestLineOf(response: ServerResponse): AbortedRequestLine | undefined {
  const server = (response.req?.socket as { server?: LineHolder } | undefined)?.server;
  return server?.[ABORTED_REQUEST_LINE];
}
