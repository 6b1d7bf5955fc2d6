import { Body, Controller, Module, Post } from '@nestjs/common';
import { ExpressAdapter } from '@nestjs/platform-express';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { Test } from '@nestjs/testing';
import express from 'express';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getCurrentRequestId, RequestTracingModule } from '@threadline/tracing';
import { LogCapture } from '../support/log-capture.js';
import { UUID_V4 } from '../support/raw-http.js';

@Controller('echo')
class EchoController {
  @Post()
  echo(@Body() body: unknown): { body: unknown; id: string | undefined } {
    return { body, id: getCurrentRequestId() };
  }
}

/**
 * An Express app served by a server the app made itself (`http.createServer(expressApp)`, as an app that
 * listens on two ports or hands the app to a serverless wrapper does), not by Nest's: the id comes first
 * all the same, on the answers Nest's body parsers give and in middleware added before Nest's.
 */
describe('Express served by a server of its own', () => {
  const logs = new LogCapture();
  const seenBeforeNest: Array<string | undefined> = [];
  let app: NestExpressApplication;
  let server: Server;
  let url: string;

  beforeAll(async () => {
    @Module({ imports: [RequestTracingModule.forRoot({ logDestination: logs })], controllers: [EchoController] })
    class OwnServerModule {}
    const expressApp = express();
    expressApp.use((_request, _response, next) => {
      seenBeforeNest.push(getCurrentRequestId());
      next();
    });
    const moduleRef = await Test.createTestingModule({ imports: [OwnServerModule] }).compile();
    app = moduleRef.createNestApplication<NestExpressApplication>(new ExpressAdapter(expressApp));
    app.useBodyParser('json', { limit: 100 });
    await app.init();
    server = createServer(expressApp);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/echo`;
  });

  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
    await app?.close();
  });

  const post = (body: string, id?: string) =>
    fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(id !== undefined && { 'x-request-id': id }) },
      body,
    });

  it('a request served: its id in the handler, in middleware added before Nest, on the answer', async () => {
    const res = await post('{"a":1}', 'own-server-1');
    expect(res.headers.get('x-request-id')).toBe('own-server-1');
    expect(await res.json()).toEqual({ body: { a: 1 }, id: 'own-server-1' });
    expect(seenBeforeNest.at(-1)).toBe('own-server-1');
  });

  it("the answers Nest's body parser gives carry the id: JSON that does not parse, a body over the limit", async () => {
    const malformed = await post('{"a":', 'own-server-bad-json');
    expect(malformed.status).toBe(400);
    expect(malformed.headers.get('x-request-id')).toBe('own-server-bad-json');

    const large = await post(JSON.stringify({ a: 'x'.repeat(300) }), 'own-server-large');
    expect(large.status).toBe(413);
    expect(large.headers.get('x-request-id')).toBe('own-server-large');
  });

  it('an invalid incoming id is replaced there too, never echoed', async () => {
    const res = await post('{"a":', 'not a valid id');
    expect(res.status).toBe(400);
    expect(res.headers.get('x-request-id')).toMatch(UUID_V4);
    expect(logs.contains('not a valid id')).toBe(false);
  });
});
