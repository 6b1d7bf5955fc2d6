import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../support/nats-server.js';
import { startPipeline } from '../../support/pipeline-app.js';
import { spawnFromSource } from '../../support/service-process.js';
import type { PipelineApp } from '../../support/pipeline-app.js';
import { UUID_V4 } from '../../support/raw-http.js';
import { CHAT, chatBody, MODEL, request } from '../../support/requests.js';
import type { ErrorBody } from '../../support/requests.js';
import { serviceChunks } from '../../support/sse.js';

/**
 * CORS over real sockets: preflights answered for the allowed origins (loopback pages by default, `*`, a
 * list), and the CORS headers on every kind of response to them: JSON, errors and streams. A disallowed
 * origin gets no `Access-Control-Allow-Origin`, so a browser keeps the response from its page.
 */

/** The headers the official `openai` client sends from a browser, with the id and trace context. */
const CLIENT_HEADERS = [
  'authorization',
  'content-type',
  'openai-organization',
  'openai-project',
  'traceparent',
  'x-request-id',
  'x-stainless-arch',
  'x-stainless-lang',
  'x-stainless-os',
  'x-stainless-package-version',
  'x-stainless-retry-count',
  'x-stainless-runtime',
  'x-stainless-runtime-version',
  'x-stainless-timeout',
].join(',');

const PAGE = 'http://localhost:5173';

/** A browser's preflight for a POST from `origin` with `headers`. */
function preflight(url: string, origin: string, path = CHAT, headers = CLIENT_HEADERS): Promise<Response> {
  return fetch(`${url}${path}`, {
    method: 'OPTIONS',
    headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': headers },
  });
}

/** A request as a page of `origin` sends it (browsers add `Origin`; the response is read to the end). */
async function fromPage(url: string, origin: string, path: string, body?: string | object, id?: string) {
  const res = await request(url, path, body, { method: body === undefined ? 'GET' : 'POST', id, headers: { origin } });
  return { res, text: await res.text() };
}

/** The CORS headers a page of `origin` needs to read a response, with the id a page may read. */
function expectReadableBy(res: Response, origin: string): void {
  expect(res.headers.get('access-control-allow-origin')).toBe(origin);
  expect(res.headers.get('access-control-expose-headers')).toBe('x-request-id, retry-after');
  expect(res.headers.get('access-control-allow-credentials')).toBeNull();
}

/** A preflight of `PAGE` answered: 204, the methods, the requested headers reflected, its own id. */
function expectPreflightAnswer(res: Response): void {
  expect(res.status).toBe(204);
  expectReadableBy(res, PAGE);
  expect(res.headers.get('access-control-allow-methods')).toBe('GET, POST, OPTIONS');
  expect(res.headers.get('access-control-allow-headers')).toBe(CLIENT_HEADERS);
  expect(res.headers.get('access-control-max-age')).toBe('600');
  expect(res.headers.get('vary')).toBe('Origin, Access-Control-Request-Headers');
  // A browser sends no custom header with a preflight: the id is generated, as for any request without one.
  expect(res.headers.get('x-request-id')).toMatch(UUID_V4);
}

function expectNoCors(res: Response): void {
  for (const name of res.headers.keys()) expect(name.startsWith('access-control-'), name).toBe(false);
}

describe('CORS with the default origins (pages of this machine, any port)', () => {
  let pipeline: PipelineApp;
  beforeAll(async () => {
    pipeline = await startPipeline();
  });
  afterAll(() => pipeline.close());

  it('a preflight: 204, the methods, the requested headers reflected, the exposed id, its own x-request-id', async () => {
    const res = await preflight(pipeline.url, PAGE);
    expect(await res.text()).toBe('');
    expectPreflightAnswer(res);
  });

  it.each(['http://127.0.0.1:3000', 'http://[::1]:8080', 'http://localhost'])(
    'a preflight from %s is answered too',
    async (origin) => {
      const res = await preflight(pipeline.url, origin);
      expect(res.status).toBe(204);
      expect(res.headers.get('access-control-allow-origin')).toBe(origin);
    },
  );

  it.each(['https://example.com', 'http://localhost.example.com:5173', 'null'])(
    'a preflight from %s: a 404 without any CORS header (the browser stops the request), with an id',
    async (origin) => {
      const res = await preflight(pipeline.url, origin);
      expect(res.status).toBe(404);
      expectNoCors(res);
      expect(res.headers.get('vary')).toBe('Origin');
      const id = res.headers.get('x-request-id')!;
      expect(id).toMatch(UUID_V4);
      // Its answer and its log line say why, for the developer who sees "Failed to fetch" in the page.
      const why = `A CORS preflight from origin ${origin}, which CORS_ORIGINS does not allow`;
      expect(((await res.json()) as ErrorBody).error.message).toContain(why);
      expect(pipeline.logs.forRequest(id).find((line) => line.msg?.startsWith('request refused'))?.msg).toContain(why);
    },
  );

  it('a preflight off the API is told only the paths under /v1/ answer other origins', async () => {
    const res = await preflight(pipeline.url, PAGE, '/debug/requests');
    expect(res.status).toBe(404);
    expectNoCors(res);
    expect(((await res.json()) as ErrorBody).error.message).toContain('only the paths under /v1/ answer other origins');
  });

  it('a request from a disallowed origin is served (CORS is the browser’s to enforce) without CORS headers', async () => {
    const { res } = await fromPage(pipeline.url, 'https://example.com', '/v1/models', undefined, 'cors-denied-1');
    expect(res.status).toBe(200);
    expect(res.headers.get('x-request-id')).toBe('cors-denied-1');
    expectNoCors(res);
  });

  it.each([
    ['a malformed percent-encoding', '/v1/models/%zz', 400],
    ['a path parameter over its longest', `/v1/models/${'m'.repeat(2000)}`, 414],
  ])("the router's own answer to %s carries the CORS headers, the id and the error body", async (_, path, status) => {
    const { res, text } = await fromPage(pipeline.url, PAGE, path, undefined, 'cors-router-1');
    expect(res.status, text).toBe(status);
    expectReadableBy(res, PAGE);
    expect(res.headers.get('vary')).toBe('Origin');
    expect(res.headers.get('x-request-id')).toBe('cors-router-1');
    expect((JSON.parse(text) as ErrorBody).error.type).toBe('invalid_request_error');
    // Not for another origin, nor off the API.
    expectNoCors((await fromPage(pipeline.url, 'https://example.com', path)).res);
    const offApi = await fromPage(pipeline.url, PAGE, path.replace('/v1/models', '/debug/requests'));
    expect(offApi.res.status).toBe(status);
    expectNoCors(offApi.res);
  });

  it.each([
    ['a malformed percent-encoding', '/v1/models/%zz'],
    ['a path parameter over its longest', `/v1/models/${'m'.repeat(2000)}`],
  ])('the preflight of a path with %s is answered, so that the page then reads the router’s error', async (_, path) => {
    expectPreflightAnswer(await preflight(pipeline.url, PAGE, path));
    const refused = await preflight(pipeline.url, 'https://example.com', path);
    expectNoCors(refused);
    expect(refused.headers.get('vary')).toBe('Origin');
  });

  it('the router’s answer to a request without Origin says it varies by Origin (a cache must not give it to a page)', async () => {
    const res = await request(pipeline.url, '/v1/models/%zz', undefined, { method: 'GET' });
    expect(res.status).toBe(400);
    expect(res.headers.get('vary')).toBe('Origin');
    expectNoCors(res);
  });

  it('an OPTIONS with Origin and no Access-Control-Request-Method (no browser sends one) is answered as a preflight, not with a plain-text 400', async () => {
    const res = await fetch(`${pipeline.url}${CHAT}`, { method: 'OPTIONS', headers: { origin: PAGE } });
    expect(res.status).toBe(204);
    expectReadableBy(res, PAGE);
    expect(res.headers.get('access-control-allow-methods')).toBe('GET, POST, OPTIONS');
  });

  it('JSON: a completion carries the CORS headers and the id', async () => {
    const { res, text } = await fromPage(pipeline.url, PAGE, CHAT, chatBody('hello', { max_tokens: 3 }), 'cors-json-1');
    expect(res.status, text).toBe(200);
    expectReadableBy(res, PAGE);
    expect(res.headers.get('vary')).toBe('Origin');
    expect(res.headers.get('x-request-id')).toBe('cors-json-1');
  });

  it('a stream: the CORS headers survive the hijacked reply, beside the SSE headers and the id', async () => {
    const body = chatBody('hello', { max_tokens: 4, stream: true });
    const { res, text } = await fromPage(pipeline.url, PAGE, CHAT, body, 'cors-stream-1');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expectReadableBy(res, PAGE);
    expect(res.headers.get('x-request-id')).toBe('cors-stream-1');
    expect(serviceChunks(text).length).toBeGreaterThan(1);
  });

  it.each([
    { what: 'malformed JSON (400)', path: CHAT, body: '{"model":', status: 400 },
    { what: 'a bad parameter (400)', path: CHAT, body: chatBody('hi', { max_tokens: -1 }), status: 400 },
    { what: 'an unknown model (404)', path: CHAT, body: { ...chatBody('hi'), model: 'gpt-4o' }, status: 404 },
    { what: 'an unknown model id (404)', path: '/v1/models/gpt-4o', body: undefined, status: 404 },
    { what: 'an unknown route (404)', path: '/v1/nothing', body: undefined, status: 404 },
  ])('an error, $what, carries the CORS headers and the id', async ({ path, body, status }) => {
    const id = `cors-error-${status}-${path.length}-${typeof body}`;
    const { res, text } = await fromPage(pipeline.url, PAGE, path, body, id);
    expect(res.status, text).toBe(status);
    expectReadableBy(res, PAGE);
    expect(res.headers.get('x-request-id')).toBe(id);
    expect((JSON.parse(text) as ErrorBody).error.message.length).toBeGreaterThan(0);
  });
});

describe('CORS at the limits', () => {
  let pipeline: PipelineApp;
  beforeAll(async () => {
    // One worker, one sequence at a time and no queue: a second request is refused while one is held.
    pipeline = await startPipeline({
      MAX_BODY_BYTES: '1024',
      THREADLINE_WORKERS: '1',
      MOCKER_MAX_RUNNING: '1',
      MOCKER_MAX_WAITING: '0',
      MOCKER_DECODE_MS_PER_TOKEN: '50',
    });
  });
  afterAll(() => pipeline.close());

  it('a 413 (a body over MAX_BODY_BYTES) carries the CORS headers and the id', async () => {
    const body = chatBody('x'.repeat(2048), { max_tokens: 2 });
    const { res, text } = await fromPage(pipeline.url, PAGE, CHAT, body, 'cors-413');
    expect(res.status, text).toBe(413);
    expectReadableBy(res, PAGE);
    expect(res.headers.get('x-request-id')).toBe('cors-413');
  });

  it('a 429 carries the CORS headers, the id and a Retry-After the page may read', async () => {
    const held = new AbortController();
    const holding = await request(pipeline.url, CHAT, chatBody('hold', { max_tokens: 100, stream: true }), {
      signal: held.signal,
    });
    const reader = holding.body!.getReader();
    await reader.read();
    try {
      const { res, text } = await fromPage(
        pipeline.url,
        PAGE,
        CHAT,
        chatBody('refused', { max_tokens: 2 }),
        'cors-429',
      );
      expect(res.status, text).toBe(429);
      expectReadableBy(res, PAGE);
      expect(res.headers.get('x-request-id')).toBe('cors-429');
      expect(res.headers.get('retry-after')).toBe('1');
    } finally {
      held.abort();
      await reader.cancel().catch(() => undefined);
    }
  });
});

describe('CORS when nothing can serve (the openai engine, its upstream unreachable)', () => {
  let pipeline: PipelineApp;
  beforeAll(async () => {
    const upstream = `http://127.0.0.1:${await freePort()}/v1`;
    pipeline = await startPipeline({ THREADLINE_ENGINE: 'openai', UPSTREAM_URL: upstream });
  });
  afterAll(() => pipeline.close());

  it('a 503 carries the CORS headers and the id', async () => {
    const { res, text } = await fromPage(pipeline.url, PAGE, CHAT, chatBody('hi', { max_tokens: 2 }), 'cors-503');
    expect(res.status, text).toBe(503);
    expectReadableBy(res, PAGE);
    expect(res.headers.get('x-request-id')).toBe('cors-503');
  });
});

describe('CORS_ORIGINS=*', () => {
  let pipeline: PipelineApp;
  beforeAll(async () => {
    pipeline = await startPipeline({ CORS_ORIGINS: '*' });
  });
  afterAll(() => pipeline.close());

  it('any origin: Access-Control-Allow-Origin is *, on a preflight and on a response', async () => {
    const res = await preflight(pipeline.url, 'https://anywhere.example');
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('access-control-allow-headers')).toBe(CLIENT_HEADERS);
    const { res: models } = await fromPage(pipeline.url, 'https://anywhere.example', '/v1/models');
    expectReadableBy(models, '*');
  });

  it('the service’s own routes stay out of other origins’ reach: the timeline holds every client’s prompts', async () => {
    for (const path of ['/debug/requests', '/health', '/metrics']) {
      const { res } = await fromPage(pipeline.url, 'https://anywhere.example', path);
      expect(res.status, path).toBe(200);
      expectNoCors(res);
      expect((await preflight(pipeline.url, 'https://anywhere.example', path)).status, path).toBe(404);
    }
  });
});

describe('CORS_ORIGINS as a list', () => {
  let pipeline: PipelineApp;
  beforeAll(async () => {
    pipeline = await startPipeline({ CORS_ORIGINS: 'https://app.example.com, http://127.0.0.1:3000' });
  });
  afterAll(() => pipeline.close());

  it.each(['https://app.example.com', 'http://127.0.0.1:3000'])('a listed origin, %s, is allowed', async (origin) => {
    const res = await preflight(pipeline.url, origin);
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe(origin);
    const { res: models } = await fromPage(pipeline.url, origin, `/v1/models/${MODEL}`);
    expectReadableBy(models, origin);
  });

  it.each(['https://other.example.com', 'http://127.0.0.1:3001', PAGE])(
    'another, %s, is not (the default loopback origins are replaced, not added to)',
    async (origin) => {
      const res = await preflight(pipeline.url, origin);
      expect(res.status).toBe(404);
      expectNoCors(res);
      const { res: models } = await fromPage(pipeline.url, origin, '/v1/models');
      expectNoCors(models);
    },
  );
});

describe('a bad CORS_ORIGINS', () => {
  it('stops start-up with one line naming the variable', async () => {
    const service = spawnFromSource('bad-cors-origins', { PORT: '0', CORS_ORIGINS: 'localhost:3000' });
    try {
      expect((await service.exited).code).toBe(1);
      expect(service.stderr()).toContain('Invalid configuration: CORS_ORIGINS must be "*" or a comma list of origins');
      expect(service.stderr()).toContain('got "localhost:3000"');
    } finally {
      await service.stop();
    }
  }, 30_000);
});
