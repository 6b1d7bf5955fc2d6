import { Body, Controller, Get, Logger, Post } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getCurrentRequestId } from '@threadline/tracing';
import { rawRequest, requestHead, UUID_V4 } from '../support/raw-http.js';
import { PLATFORMS, startTestApp } from '../support/test-app.js';
import type { TestApp } from '../support/test-app.js';

@Controller()
class SmokeController {
  @Get('id')
  id() {
    return { id: getCurrentRequestId() };
  }

  @Post('id')
  posted(@Body() body: { size: number }) {
    new Logger('Smoke').log(`body of ${body.size}`);
    return { id: getCurrentRequestId() };
  }
}

describe.each(PLATFORMS)('smoke on %s', (platform) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ platform, controllers: [SmokeController] });
  });
  afterAll(() => t.close());

  it('echoes over a real socket', async () => {
    const res = await rawRequest(t.port, requestHead('GET', '/id', ['X-Request-Id: abc-1']));
    expect(res.headers['x-request-id']).toBe('abc-1');
    expect(JSON.parse(res.body)).toEqual({ id: 'abc-1' });
    expect(t.logs.forRequest('abc-1').length).toBeGreaterThan(0);
  });

  it.runIf(platform === 'fastify')('generates an id for a request made with inject', async () => {
    const injected = await t.fastify().inject({ method: 'GET', url: '/id' });
    expect(injected.headers['x-request-id']).toMatch(UUID_V4);
    expect(injected.json()).toEqual({ id: injected.headers['x-request-id'] });
  });

  it('keeps the context across body parsing, which resumes from socket callbacks', async () => {
    const body = JSON.stringify({ size: 200_000, pad: 'x'.repeat(200_000) });
    const results = await Promise.all(
      [1, 2, 3, 4].map(async (n) => {
        const res = await fetch(`${t.url}/id`, {
          method: 'POST',
          headers: { 'x-request-id': `body-${n}`, 'content-type': 'application/json' },
          body,
        });
        return (await res.json()) as { id: string };
      }),
    );
    expect(results).toEqual([1, 2, 3, 4].map((n) => ({ id: `body-${n}` })));
    for (const n of [1, 2, 3, 4]) {
      expect(t.logs.forRequest(`body-${n}`).map((line) => line.msg)).toContain('body of 200000');
    }
  });
});
