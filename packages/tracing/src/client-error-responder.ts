import { STATUS_CODES } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import {
  clientErrorMessage,
  clientErrorStatus,
  defaultClientErrorBody,
  EXPECTATION_FAILED,
  frameworkErrorMessage,
} from './client-error.js';
import type { ClientErrorBody, ClientErrorDetails, HttpClientError } from './client-error.js';
import { storeOfResponse } from './http-request-context.js';
import { requestIdOf } from './request-context.js';
import type { RequestIdResolver } from './request-id.resolver.js';
import { requestBoundLogger } from './tracing-logger.factory.js';

/** A request Fastify refused before routing it, as its `frameworkErrors` handler sees it. */
export interface RefusedRequest {
  id: string;
  remoteAddress: string | undefined;
  reply: {
    code(status: number): RefusedRequest['reply'];
    header(name: string, value: string): RefusedRequest['reply'];
    type(contentType: string): RefusedRequest['reply'];
    send(payload: string): unknown;
  };
}

/** Node keeps the response a connection is answering here; its own client-error answer looks there too. */
type HttpSocket = Socket & { _httpMessage?: ServerResponse | null };

const REFUSED = 'request refused by the HTTP server';

/**
 * Answers what Node's HTTP server answers without the application (a request its parser refuses, an
 * `Expect` it cannot meet): an id, a JSON body, `Connection: close`, and one `warn` line that never holds
 * the request's bytes (docs/tracing.md, "What Node answers on its own").
 */
export class ClientErrorResponder {
  constructor(
    private readonly resolver: RequestIdResolver,
    private readonly logger: Logger,
    private readonly body: ClientErrorBody,
  ) {}

  /** Takes over both answers on `server`, each unless the application already listens for it. */
  listen(server: Server): void {
    if (server.listenerCount('clientError') === 0) {
      server.on('clientError', (error: HttpClientError, socket: HttpSocket) => this.onClientError(error, socket));
    }
    if (server.listenerCount('checkExpectation') === 0) {
      server.on('checkExpectation', (request: IncomingMessage, response: ServerResponse) =>
        this.onUnmetExpectation(request, response),
      );
    }
  }

  private onClientError(error: HttpClientError, socket: HttpSocket): void {
    // A connection reset or already closed has no one left to answer.
    if (error.code === 'ECONNRESET' || socket.destroyed) return;
    const pending = socket._httpMessage ?? undefined;
    if (!socket.writable || pending?.headersSent === true) {
      socket.destroy();
      return;
    }
    // A request whose body was still arriving is answered under its own id; bytes after a complete
    // request begin another one, which has none yet.
    const ownId = pending !== undefined && pending.req?.complete === false ? idOfResponse(pending) : undefined;
    const status = clientErrorStatus(error);
    const reason = error.code ?? 'UNKNOWN';
    const details = this.details(status, reason, ownId ?? this.resolver.generate());
    const remoteAddress = socket.remoteAddress;
    socket.write(rawResponse(details, this.resolver.header, this.payload(details)));
    socket.destroy();
    this.log(details, remoteAddress);
  }

  private onUnmetExpectation(request: IncomingMessage, response: ServerResponse): void {
    const details = this.details(417, EXPECTATION_FAILED, this.resolver.resolve(request.headers[this.resolver.header]));
    const payload = this.payload(details);
    response.writeHead(417, {
      [this.resolver.header]: details.requestId,
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(payload),
      connection: 'close',
    });
    response.end(payload);
    this.log(details, request.socket.remoteAddress);
  }

  /**
   * Answers a request Fastify refused before any route or hook (its `frameworkErrors`), under the id
   * Fastify generated for it by the policy: the configured body, one `warn` line.
   */
  answerFrameworkError(error: { statusCode?: number; code?: string }, request: RefusedRequest): void {
    const status = error.statusCode ?? 400;
    const reason = error.code ?? 'UNKNOWN';
    const details = this.details(status, reason, request.id, frameworkErrorMessage(status, reason));
    request.reply
      .code(status)
      .header(this.resolver.header, details.requestId)
      .type('application/json; charset=utf-8')
      .send(this.payload(details));
    this.log(details, request.remoteAddress);
  }

  private details(
    status: number,
    reason: string,
    requestId: string,
    message = clientErrorMessage(status, reason),
  ): ClientErrorDetails {
    return { status, reason, message, requestId };
  }

  /** The configured body as JSON; the default one should the configured function fail, which must not end the process. */
  private payload(details: ClientErrorDetails): string {
    try {
      const text = JSON.stringify(this.body(details));
      if (text !== undefined) return text;
    } catch (error) {
      requestBoundLogger(this.logger, details.requestId).error(
        { err: error },
        'clientErrorBody failed; the default body was sent',
      );
    }
    return JSON.stringify(defaultClientErrorBody(details));
  }

  private log({ requestId, reason, status }: ClientErrorDetails, remoteAddress: string | undefined): void {
    requestBoundLogger(this.logger, requestId).warn({ reason, status, remoteAddress }, REFUSED);
  }
}

function idOfResponse(response: ServerResponse): string | undefined {
  const store = storeOfResponse(response);
  return store === undefined ? undefined : requestIdOf(store);
}

function rawResponse({ status, requestId }: ClientErrorDetails, idHeader: string, payload: string): string {
  return (
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n` +
    `${idHeader}: ${requestId}\r\n` +
    'Content-Type: application/json; charset=utf-8\r\n' +
    `Content-Length: ${Buffer.byteLength(payload)}\r\n` +
    'Connection: close\r\n\r\n' +
    payload
  );
}
