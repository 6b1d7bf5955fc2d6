import type { Browser } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeWithBrowser, launchChromium } from '../support/browser.js';
import { startPipeline } from '../support/pipeline-app.js';
import type { PipelineApp } from '../support/pipeline-app.js';
import { rawRequest, UUID_V4 } from '../support/raw-http.js';
import type { RawResponse } from '../support/raw-http.js';

/**
 * DNS rebinding: a web page served under a name of its own, which its DNS then points at 127.0.0.1, is
 * of the service's origin to the browser, and CORS lets it read everything. The service listening on a
 * loopback address answers only the Host names that can be its own.
 */

/** A GET with `Host: host` (fetch would not send one of its choosing). */
function get(pipeline: PipelineApp, path: string, host: string, id?: string): Promise<RawResponse> {
  const idLine = id === undefined ? '' : `X-Request-Id: ${id}\r\n`;
  const head = `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n${idLine}`;
  return rawRequest(Number(new URL(pipeline.url).port), head);
}

describe('the Host names a service on a loopback address answers to', () => {
  let pipeline: PipelineApp;
  beforeAll(async () => {
    pipeline = await startPipeline();
  });
  afterAll(() => pipeline.close());

  it('another name gets a 403 with an OpenAI error body and the id, on the API and on the timeline', async () => {
    const port = new URL(pipeline.url).port;
    for (const path of ['/v1/models', '/debug/requests', '/metrics', '/no-such-route']) {
      const res = await get(pipeline, path, `rebound.example:${port}`, 'host-refused-1');
      expect(res.status, path).toBe(403);
      expect(res.headers['x-request-id']).toBe('host-refused-1');
      const body = JSON.parse(res.body) as { error: { code: string; type: string; message: string } };
      expect(body.error).toMatchObject({ code: 'host_not_allowed', type: 'invalid_request_error' });
      expect(body.error.message).toContain('ALLOWED_HOSTS');
    }
    const line = pipeline.logs.forRequest('host-refused-1').find((entry) => entry.msg?.startsWith('request refused'));
    expect(line).toMatchObject({ level: 40, status: 403, code: 'host_not_allowed' });
  });

  it('HTTP/1.1 without Host, or with an empty one: a 400 with an OpenAI error body and the id, the connection closed', async () => {
    const port = Number(new URL(pipeline.url).port);
    const res = await rawRequest(port, 'GET /v1/models HTTP/1.1\r\nX-Request-Id: no-host-1\r\n');
    expect(res.status).toBe(400);
    expect(res.headers['x-request-id']).toBe('no-host-1');
    expect(res.headers.connection).toBe('close');
    expect(JSON.parse(res.body)).toEqual({
      error: {
        message: 'The request has no Host header, which HTTP/1.1 requires to name the host (request id no-host-1).',
        type: 'invalid_request_error',
        param: null,
        code: 'bad_request',
      },
    });
    const line = pipeline.logs.forRequest('no-host-1').find((entry) => entry.msg?.startsWith('request refused'));
    expect(line).toMatchObject({ level: 40, status: 400, code: 'bad_request' });
    // An empty Host names no host either (it was a 403, "does not answer to the host \"\"").
    const empty = await get(pipeline, '/v1/models', '', 'empty-host-1');
    expect(empty.status).toBe(400);
    expect(empty.headers['x-request-id']).toBe('empty-host-1');
    expect((JSON.parse(empty.body) as { error: { message: string } }).error.message).toBe(
      'The request has an empty Host header, which HTTP/1.1 requires to name the host (request id empty-host-1).',
    );
  });

  it('its own names and addresses are answered', async () => {
    const port = new URL(pipeline.url).port;
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, `tool.localhost:${port}`]) {
      const res = await get(pipeline, '/v1/models', host);
      expect(res.status, host).toBe(200);
      expect(res.headers['x-request-id']).toMatch(UUID_V4);
    }
  });
});

describe('ALLOWED_HOSTS', () => {
  it('names more hosts to answer to; `*` answers any', async () => {
    const listed = await startPipeline({ ALLOWED_HOSTS: 'llm.internal' });
    const any = await startPipeline({ ALLOWED_HOSTS: '*' });
    try {
      expect((await get(listed, '/v1/models', 'llm.internal')).status).toBe(200);
      expect((await get(listed, '/v1/models', 'other.internal')).status).toBe(403);
      expect((await get(any, '/v1/models', 'other.internal')).status).toBe(200);
      // Any name, but a name all the same: HTTP/1.1 requires one.
      expect((await rawRequest(Number(new URL(any.url).port), 'GET /v1/models HTTP/1.1\r\n')).status).toBe(400);
    } finally {
      await Promise.all([listed.close(), any.close()]);
    }
  });

  it('is not needed on another address than loopback: any name is answered', async () => {
    const wide = await startPipeline({ HOST: '0.0.0.0' });
    try {
      expect((await get(wide, '/v1/models', 'llm.example.com')).status).toBe(200);
    } finally {
      await wide.close();
    }
  });
});

describeWithBrowser('a page of a rebound name, in Chromium', () => {
  let pipeline: PipelineApp;
  let browser: Browser;
  beforeAll(async () => {
    pipeline = await startPipeline();
    // The page's name resolves to the service's address, as after a rebinding.
    browser = await launchChromium(['--host-resolver-rules=MAP rebound.example 127.0.0.1']);
  }, 30_000);
  afterAll(async () => {
    await browser?.close();
    await pipeline?.close();
  });

  it('reads neither the timeline nor the API of the service it reaches', async () => {
    const page = await browser.newPage();
    try {
      const origin = `http://rebound.example:${new URL(pipeline.url).port}`;
      const response = await page.goto(`${origin}/debug/requests`);
      expect(response?.status()).toBe(403);
      const fromPage = await page.evaluate(async () => {
        const res = await fetch('/v1/models');
        return { status: res.status, code: ((await res.json()) as { error: { code: string } }).error.code };
      });
      expect(fromPage).toEqual({ status: 403, code: 'host_not_allowed' });
    } finally {
      await page.close();
    }
  }, 30_000);
});
