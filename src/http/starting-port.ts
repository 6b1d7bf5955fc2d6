import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createTracingLogger } from '@threadline/tracing';
import { RequestIdResolver } from '@threadline/tracing/internal';
import type { ResolvedTracingOptions } from '@threadline/tracing/internal';
import { EndpointError } from '@threadline/runtime';
import { toOpenAIError } from '../llm/frontend/openai-error.js';

/** What the Frontend's port answers while its process starts, until `close()` hands the port to the app. */
export interface StartingPort {
  close(): Promise<void>;
}

/**
 * Holds the Frontend's port while the process waits for NATS, which it retries for as long as it takes:
 * without it the port refuses connections, and a liveness probe there restarts a process that was only
 * waiting for its bus. `GET /health` is 200 (the process is alive), `GET /ready` a 503 naming `nats`, as
 * the app's own readiness would, and any other request a 503 OpenAI error to retry; each answer carries
 * the request id, chosen by the app's policy. Plain `node:http`, as METRICS_PORT's server: the app that
 * will serve the port is not built yet.
 */
export async function holdStartingPort(
  where: { port: number; host: string },
  natsUrl: string,
  tracing: ResolvedTracingOptions,
): Promise<StartingPort> {
  const resolver = new RequestIdResolver(tracing, createTracingLogger(tracing));
  const message = `not connected to NATS at ${natsUrl}: the service is starting`;
  const server = createServer((request, response) => answer(request, response, resolver, message));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(where.port, where.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function answer(request: IncomingMessage, response: ServerResponse, resolver: RequestIdResolver, why: string): void {
  const id = resolver.resolve(request.headers[resolver.header]);
  const path = (request.url ?? '/').split('?')[0];
  const down = { status: 'down', message: why };
  const body =
    path === '/health'
      ? { status: 'ok' }
      : path === '/ready'
        ? { status: 'error', info: {}, error: { nats: down }, details: { nats: down } }
        : toOpenAIError(
            new EndpointError({
              message: `${why}; retry shortly.`,
              status: 503,
              code: 'starting',
              requestId: id,
              component: 'frontend',
              endpoint: path ?? '/',
            }),
            id,
          ).body;
  response.writeHead(path === '/health' ? 200 : 503, {
    'content-type': 'application/json; charset=utf-8',
    [resolver.header]: id,
    ...(path === '/health' ? {} : { 'retry-after': '1' }),
    connection: 'close',
  });
  // A body sent with the request is not read: the connection closes after the answer.
  response.end(JSON.stringify(body));
}
