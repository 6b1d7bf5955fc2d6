import { Controller, Get, Injectable, Logger, Module } from '@nestjs/common';
import type { MiddlewareConsumer, NestMiddleware, NestModule } from '@nestjs/common';
import { getCurrentRequestId } from '@threadline/tracing';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UUID_V4 } from '../support/raw-http.js';
import { PLATFORMS, startTestApp } from '../support/test-app.js';
import type { TestApp } from '../support/test-app.js';

/**
 * Responses written before any of Nest's code runs for the route: by a Nest middleware, by an app's own
 * hook or middleware, by the CORS preflight handler. Each carries the request's id, as every response
 * does, whoever writes its head (on Fastify these run before the module's own onRequest hook).
 */

@Injectable()
class RefusingMiddleware implements NestMiddleware {
  private readonly logger = new Logger('Refusing');

  use(request: IncomingMessage, response: ServerResponse, next: () => void): void {
    if (request.headers.authorization === 'ok') return next();
    this.logger.warn('refused by middleware');
    response.statusCode = 401;
    response.end(JSON.stringify({ id: getCurrentRequestId() }));
  }
}

@Controller()
class GuardedController {
  @Get('guarded')
  guarded(): { ok: true } {
    return { ok: true };
  }
}

@Module({ controllers: [GuardedController] })
class GuardedModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(RefusingMiddleware).forRoutes('guarded');
  }
}

/** The app's own early refusal of `/denied`: a Fastify onRequest hook, an Express `app.use()`. */
function denied(response: ServerResponse): void {
  response.statusCode = 403;
  response.setHeader('content-type', 'application/json');
  response.end(JSON.stringify({ id: getCurrentRequestId() }));
}

describe.each(PLATFORMS)('responses written before Nest routes the request (%s)', (platform) => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp({
      platform,
      imports: [GuardedModule],
      beforeInit: (fastify) => {
        fastify.addHook('onRequest', (request, reply, done) => {
          if (request.url !== '/denied') return done();
          denied(reply.raw);
        });
      },
      beforeInitExpress: (express) => {
        express.use((request, response, next) => (request.url === '/denied' ? denied(response) : next()));
      },
      beforeListen: (app) => app.enableCors({ origin: 'http://localhost:5173' }),
    });
  });
  afterAll(() => t?.close());

  it('a Nest middleware that answers itself: the incoming id on the response, its body and its line', async () => {
    const res = await fetch(`${t.url}/guarded`, { headers: { 'x-request-id': `mw-${platform}` } });
    expect(res.status).toBe(401);
    expect(res.headers.get('x-request-id')).toBe(`mw-${platform}`);
    expect(await res.json()).toEqual({ id: `mw-${platform}` });
    expect(t.logs.forRequest(`mw-${platform}`).map((line) => line.msg)).toContain('refused by middleware');
  });

  it('without an incoming id: the generated one is on the response, as on the line', async () => {
    const res = await fetch(`${t.url}/guarded`);
    const id = res.headers.get('x-request-id');
    expect(id).toMatch(UUID_V4);
    expect(await res.json()).toEqual({ id });
    expect(t.logs.forRequest(id!).map((line) => line.msg)).toContain('refused by middleware');
  });

  it(`the app's own ${platform === 'fastify' ? 'onRequest hook' : 'app.use() middleware'} that answers: the id on the response`, async () => {
    const res = await fetch(`${t.url}/denied`, { headers: { 'x-request-id': `early-${platform}` } });
    expect(res.status).toBe(403);
    expect(res.headers.get('x-request-id')).toBe(`early-${platform}`);
    expect(await res.json()).toEqual({ id: `early-${platform}` });
  });

  it('a CORS preflight, answered by the CORS handler: the id on the 204', async () => {
    const res = await fetch(`${t.url}/guarded`, {
      method: 'OPTIONS',
      headers: {
        origin: 'http://localhost:5173',
        'access-control-request-method': 'GET',
        'x-request-id': `preflight-${platform}`,
      },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe('http://localhost:5173');
    expect(res.headers.get('x-request-id')).toBe(`preflight-${platform}`);
  });
});
