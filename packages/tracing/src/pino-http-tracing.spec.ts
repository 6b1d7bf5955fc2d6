import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pinoHttp } from 'pino-http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LogCapture } from '../../../test/support/log-capture.js';
import { waitFor } from '../../../test/support/wait-for.js';
import { pinoHttpTracingOptions } from './pino-http-tracing.js';
import { runWithRequestId } from './request-context.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('pinoHttpTracingOptions()', () => {
  const lines = new LogCapture();
  const log = pinoHttp(pinoHttpTracingOptions(), lines);
  /** How the server finds a request's id before pino-http sees it, by path. */
  const ways: Record<string, (request: IncomingMessage, response: ServerResponse, next: () => void) => void> = {
    '/req-id': (request, _response, next) => {
      (request as IncomingMessage & { id?: string }).id = 'set-by-ingress';
      next();
    },
    '/context': (_request, _response, next) => runWithRequestId('from-context', next),
    '/neither': (_request, _response, next) => next(),
  };
  const server = createServer((request, response) =>
    ways[request.url!]!(request, response, () => {
      log(request, response);
      request.log.info('handled');
      response.end('ok');
    }),
  );
  let url: string;
  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  async function linesOf(path: string) {
    lines.clear();
    await (await fetch(`${url}${path}`, { headers: { 'x-request-id': 'raw incoming id' } })).text();
    await waitFor(() => lines.lines.find((line) => line.msg === 'request completed'));
    return lines.lines;
  }

  it("puts the request's req.id on every line as requestId", async () => {
    const written = await linesOf('/req-id');
    expect(written.map((line) => [line.msg, line.requestId])).toEqual([
      ['handled', 'set-by-ingress'],
      ['request completed', 'set-by-ingress'],
    ]);
  });

  it('takes the id of the current request context when the request has no req.id', async () => {
    expect((await linesOf('/context')).map((line) => line.requestId)).toEqual(['from-context', 'from-context']);
  });

  it('makes a UUID, never a counter, for a request with neither', async () => {
    const [handled, completed] = await linesOf('/neither');
    expect(handled?.requestId).toMatch(UUID);
    expect(completed?.requestId).toBe(handled?.requestId);
  });

  it('logs the request without its headers, so no raw incoming id reaches a line', async () => {
    const completed = (await linesOf('/req-id')).find((line) => line.msg === 'request completed');
    expect(completed?.req).toEqual(expect.objectContaining({ method: 'GET', url: '/req-id' }));
    expect(completed?.req).not.toHaveProperty('headers');
    expect(lines.contains('raw incoming id')).toBe(false);
  });
});
