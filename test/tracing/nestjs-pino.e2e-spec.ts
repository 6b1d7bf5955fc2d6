import { Body, Controller, Get, Logger, Module, Post, RequestMethod } from '@nestjs/common';
import type { INestApplication } from '@nestjs/common';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { InjectPinoLogger, Logger as PinoNestLogger, LoggerModule, PinoLogger } from 'nestjs-pino';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getCurrentRequestId, pinoHttpTracingOptions, RequestTracingModule } from '@threadline/tracing';
import { LogCapture } from '../support/log-capture.js';
import { UUID_V4 } from '../support/raw-http.js';
import { PLATFORMS } from '../support/test-app.js';
import type { Platform } from '../support/test-app.js';
import { waitFor } from '../support/wait-for.js';
import { incomingIdCases } from '../support/incoming-id-cases.js';

/**
 * nestjs-pino's `LoggerModule` next to `RequestTracingModule`, with `pinoHttpTracingOptions()`: every
 * line nestjs-pino writes for a request (pino-http's "request completed", and the app's lines through
 * its `Logger` and `PinoLogger`) carries the request's id as `requestId`, the id the response header
 * carries, and a rejected incoming id reaches no line at all.
 */

/**
 * nestjs-pino builds its pino-http instance once per process, with the options and destination of the
 * first app that asks: every app of this file writes its lines here.
 */
const pinoLines = new LogCapture();
/** Threadline's own lines (the one that records a rejected incoming id). */
const tracingLines = new LogCapture();

@Controller()
class GreetingController {
  private readonly logger = new Logger('GreetingController');

  constructor(@InjectPinoLogger(GreetingController.name) private readonly pino: PinoLogger) {}

  @Get('hello')
  helloOnGet(): { id: string | undefined } {
    return this.hello();
  }

  @Post('hello')
  helloOnPost(@Body() _body: unknown): { id: string | undefined } {
    return this.hello();
  }

  private hello(): { id: string | undefined } {
    this.logger.log('handled, through Nest Logger');
    this.pino.info('handled, through PinoLogger');
    return { id: getCurrentRequestId() };
  }
}

interface PinoApp {
  app: INestApplication;
  url: string;
}

/** An app as nestjs-pino documents it: its `Logger` as Nest's logger, and no logger given to Fastify. */
async function startPinoApp(platform: Platform): Promise<PinoApp> {
  @Module({
    imports: [
      RequestTracingModule.forRoot({ logDestination: tracingLines }),
      LoggerModule.forRoot({
        pinoHttp: [{ ...pinoHttpTracingOptions(), level: 'debug' }, pinoLines],
        // nestjs-pino's default route, '{/*splat}', matches no request on @nestjs/platform-fastify 12.5.
        forRoutes: [{ path: '{*path}', method: RequestMethod.ALL }],
      }),
    ],
    controllers: [GreetingController],
  })
  class AppModule {}

  const moduleRef = await Test.createTestingModule({ imports: [AppModule] }).compile();
  const adapter = platform === 'fastify' ? new FastifyAdapter() : new ExpressAdapter();
  const app = moduleRef.createNestApplication<INestApplication<Server>>(adapter, { bufferLogs: true });
  app.useLogger(app.get(PinoNestLogger));
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  return { app, url: `http://127.0.0.1:${port}` };
}

const REQUESTS = incomingIdCases('pino');

describe.each(PLATFORMS)('nestjs-pino on %s', (platform) => {
  let t: PinoApp;
  beforeAll(async () => {
    t = await startPinoApp(platform);
  });
  afterAll(() => t.app.close());

  function send(method: 'GET' | 'POST', incoming: string | undefined): Promise<Response> {
    const headers: Record<string, string> = incoming === undefined ? {} : { 'x-request-id': incoming };
    if (method === 'GET') return fetch(`${t.url}/hello`, { headers });
    return fetch(`${t.url}/hello`, {
      method,
      headers: { ...headers, 'content-type': 'application/json' },
      body: '{"a":1}',
    });
  }

  it.each(REQUESTS)(
    '$method with $sent: every nestjs-pino line of the request carries the id of the header as requestId',
    async ({ method, incoming, kept }) => {
      pinoLines.clear();
      const response = await send(method, incoming);
      const id = response.headers.get('x-request-id')!;
      if (kept) expect(id).toBe(incoming);
      else expect(id).toMatch(UUID_V4);
      expect(await response.json()).toEqual({ id });

      const completed = await waitFor(() => pinoLines.lines.find((line) => line.msg === 'request completed'));
      const lines = pinoLines.lines;
      expect(lines.map((line) => line.msg)).toEqual(
        expect.arrayContaining(['handled, through Nest Logger', 'handled, through PinoLogger', 'request completed']),
      );
      expect(lines.filter((line) => line.requestId !== id)).toEqual([]);
      expect(completed.req).toEqual(expect.objectContaining({ method, url: '/hello' }));
      expect(completed.req).not.toHaveProperty('headers');
    },
  );

  it.each(REQUESTS.filter((request) => !request.kept && request.incoming !== undefined))(
    "$method with $sent: the rejected id appears on no line, nestjs-pino's or Threadline's",
    async ({ method, incoming }) => {
      tracingLines.clear();
      pinoLines.clear();
      const response = await send(method, incoming);
      await response.body?.cancel();
      await waitFor(() => pinoLines.lines.find((line) => line.msg === 'request completed'));
      expect(tracingLines.raw.length).toBeGreaterThan(0);
      expect(pinoLines.contains(incoming)).toBe(false);
      expect(tracingLines.contains(incoming)).toBe(false);
    },
  );
});
