import { Controller, Get, Logger, Req, Res } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UUID_V4 } from '../support/raw-http.js';
import { startTestApp } from '../support/test-app.js';
import type { TestApp } from '../support/test-app.js';

/**
 * An app whose FastifyAdapter has no logger (Nest's default). Fastify then writes no lines of its own
 * and RequestTracingModule leaves its per-request logger alone (the cheap path of
 * bench/http-overhead.bench.ts); the id is still echoed and still on every line Nest's Logger writes.
 */
@Controller()
class QuietController {
  private readonly logger = new Logger('QuietController');

  @Get('hello')
  hello(@Req() request: FastifyRequest) {
    this.logger.log('nest line');
    request.log.info('fastify line');
    return { hello: 'world' };
  }

  @Get('raw')
  raw(@Res() reply: FastifyReply) {
    reply.hijack();
    reply.raw.end('raw');
  }
}

describe('RequestTracingModule in an app whose Fastify has no logger', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ controllers: [QuietController], fastify: { loggerInstance: undefined } });
  });
  afterAll(() => t.close());

  it('echoes a valid incoming id and puts it on the Nest Logger line; Fastify writes nothing', async () => {
    const res = await fetch(`${t.url}/hello`, { headers: { 'x-request-id': 'quiet-1' } });
    expect(res.headers.get('x-request-id')).toBe('quiet-1');
    expect(await res.json()).toEqual({ hello: 'world' });
    expect(t.logs.forRequest('quiet-1').map((line) => line.msg)).toEqual(['nest line']);
    expect(t.logs.contains('fastify line')).toBe(false);
  });

  it('generates a UUIDv4 when none was sent, for a reply and for a raw write', async () => {
    for (const path of ['/hello', '/raw']) {
      const res = await fetch(`${t.url}${path}`);
      await res.arrayBuffer();
      expect(res.headers.get('x-request-id'), path).toMatch(UUID_V4);
    }
  });

  it('replaces an invalid incoming id and logs why, without the value', async () => {
    const res = await fetch(`${t.url}/hello`, { headers: { 'x-request-id': 'no spaces allowed' } });
    const id = res.headers.get('x-request-id')!;
    expect(id).toMatch(UUID_V4);
    expect(t.logs.forRequest(id).map((line) => line.msg)).toEqual([
      'incoming request id replaced by a generated one',
      'nest line',
    ]);
    expect(t.logs.contains('no spaces allowed')).toBe(false);
  });
});
