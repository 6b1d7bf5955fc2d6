import { Controller, Get } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getCurrentRequestId } from '../src/tracing/index.js';
import { rawRequest, requestHead, UUID_V4 } from './support/raw-http.js';
import { startTestApp } from './support/test-app.js';
import type { TestApp } from './support/test-app.js';

@Controller()
class SmokeController {
  @Get('id')
  id() {
    return { id: getCurrentRequestId() };
  }
}

describe('smoke', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ controllers: [SmokeController] });
  });
  afterAll(() => t.close());

  it('echoes over a real socket and via inject', async () => {
    const res = await rawRequest(t.port, requestHead('GET', '/id', ['X-Request-Id: abc-1']));
    expect(res.headers['x-request-id']).toBe('abc-1');
    expect(JSON.parse(res.body)).toEqual({ id: 'abc-1' });
    const injected = await t.app.inject({ method: 'GET', url: '/id' });
    expect(injected.headers['x-request-id']).toMatch(UUID_V4);
    expect(injected.json()).toEqual({ id: injected.headers['x-request-id'] });
    expect(t.logs.forRequest('abc-1').length).toBeGreaterThan(0);
  });
});
