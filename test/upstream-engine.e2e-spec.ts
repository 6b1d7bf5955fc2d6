import { createServer } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadLlmConfig } from '../src/llm/llm.config.js';
import { Tokenizer } from '../src/llm/processor/tokenizer.js';
import { MockText } from '../src/llm/worker/mocker/mock-text.js';
import type { LogLine } from './support/log-capture.js';
import { startPipeline } from './support/pipeline-app.js';
import type { PipelineApp } from './support/pipeline-app.js';
import { UUID_V4 } from './support/raw-http.js';
import { startFromSource } from './support/service-process.js';
import type { ServiceProcess } from './support/service-process.js';

/**
 * The `openai` engine (THREADLINE_ENGINE=openai) over real sockets: Threadline B forwards generation to
 * an OpenAI-compatible upstream, streaming, with the request id in `X-Request-Id`, and maps the
 * upstream's failures to OpenAI error bodies.
 *
 * The upstream Threadline (A) runs as its own process (src/main.ts, the entry `npm start` runs). Two
 * apps in one process share the process-wide loggers (Nest's `Logger` override installed by
 * `app.useLogger`, and `tracingGlobals.logger` set by each RequestTracingModule), so the component
 * lines of both would land in whichever app started last; in two processes, A's stdout is A's log.
 */

const MODEL = 'threadline-mocker';
const CHAT = '/v1/chat/completions';
const COMPLETIONS = '/v1/completions';
const PIPELINE = ['frontend', 'processor', 'router', 'worker'];

// ---------------------------------------------------------------------------------------------------
// Response shapes (only the fields read here)
// ---------------------------------------------------------------------------------------------------

interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details: { cached_tokens: number };
}

interface Choice {
  index: number;
  message?: { role: string; content: string };
  delta?: { role?: string; content?: string };
  text?: string;
  finish_reason: string | null;
}

interface Body {
  id: string;
  object: string;
  model: string;
  choices: Choice[];
  usage?: Usage;
}

interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

interface Reply {
  status: number;
  /** The `x-request-id` response header. */
  requestId: string | null;
  contentType: string | null;
  /** The `retry-after` response header. */
  retryAfter: string | null;
  text: string;
}

/** One response, streamed or not, reduced to what the client got. */
interface Answer {
  /** `id` of the body, or of every chunk. */
  ids: string[];
  text: string;
  finishReason: string | null;
  usage: Usage | undefined;
}

type Api = 'chat' | 'completion';

// ---------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------


async function post(url: string, path: string, body: object, id?: string, signal?: AbortSignal): Promise<Reply> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (id !== undefined) headers['x-request-id'] = id;
  const res = await fetch(`${url}${path}`, { method: 'POST', headers, body: JSON.stringify(body), signal });
  return {
    status: res.status,
    requestId: res.headers.get('x-request-id'),
    contentType: res.headers.get('content-type'),
    retryAfter: res.headers.get('retry-after'),
    text: await res.text(),
  };
}

function pathOf(api: Api): string {
  return api === 'chat' ? CHAT : COMPLETIONS;
}

/**
 * The SSE events of a stream body, each without its `data: ` prefix. Every stream opens with the
 * comment `: ok` (which clients ignore), so that its headers leave before the first token.
 */
function events(text: string): string[] {
  expect(text.startsWith(': ok\n\n'), text).toBe(true);
  const parts = text.slice(': ok\n\n'.length).split('\n\n');
  expect(parts.at(-1)).toBe('');
  return parts.slice(0, -1).map((event) => {
    expect(event.startsWith('data: '), text).toBe(true);
    return event.slice('data: '.length);
  });
}

/** Parses a successful response (a JSON body, or an SSE stream ending in `[DONE]`). */
function answer(api: Api, stream: boolean, reply: Reply): Answer {
  expect(reply.status, reply.text).toBe(200);
  if (!stream) {
    expect(reply.contentType).toBe('application/json; charset=utf-8');
    const body = JSON.parse(reply.text) as Body;
    expect(body.object).toBe(api === 'chat' ? 'chat.completion' : 'text_completion');
    expect(body.choices).toHaveLength(1);
    const choice = body.choices[0]!;
    return { ids: [body.id], text: (api === 'chat' ? choice.message!.content : choice.text)!, finishReason: choice.finish_reason, usage: body.usage };
  }
  expect(reply.contentType).toBe('text/event-stream; charset=utf-8');
  const data = events(reply.text);
  expect(data.at(-1)).toBe('[DONE]');
  const chunks = data.slice(0, -1).map((event) => JSON.parse(event) as Body);
  const choices = chunks.flatMap((chunk) => chunk.choices);
  const reasons = choices.map((choice) => choice.finish_reason).filter((reason) => reason !== null);
  expect(reasons).toHaveLength(1);
  const usages = chunks.filter((chunk) => chunk.usage !== undefined);
  expect(usages.length).toBeLessThanOrEqual(1);
  return {
    ids: chunks.map((chunk) => chunk.id),
    text: choices.map((choice) => (api === 'chat' ? (choice.delta!.content ?? '') : choice.text!)).join(''),
    finishReason: reasons[0]!,
    usage: usages[0]?.usage,
  };
}

function requestBody(api: Api, n: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const base =
    api === 'chat'
      ? { model: MODEL, messages: [{ role: 'system', content: 'You tell stories.' }, { role: 'user', content: `Tell me story number ${n}.` }] }
      : { model: MODEL, prompt: `Once upon a time, number ${n},` };
  return { ...base, seed: 40 + n, ...extra };
}

function streamed(stream: boolean): Record<string, unknown> {
  return stream ? { stream: true, stream_options: { include_usage: true } } : {};
}

/** The components that wrote at least one line. */
function componentsOf(lines: LogLine[]): string[] {
  return [...new Set(lines.map((line) => line.component).filter((c): c is string => typeof c === 'string'))].sort();
}

function messages(lines: LogLine[], component?: string): string[] {
  return lines.filter((line) => component === undefined || line.component === component).map((line) => String(line.msg));
}

async function waitFor<T>(probe: () => T | undefined | false, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

// ---------------------------------------------------------------------------------------------------
// The upstream Threadline, as its own process
// ---------------------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------------------
// A stand-in upstream (node:http) that answers as it is told, and records what it was sent
// ---------------------------------------------------------------------------------------------------

interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: unknown;
}

interface FakeUpstream {
  /** `http://127.0.0.1:<port>/v1`, as UPSTREAM_URL */
  url: string;
  /** Every request but the start-up `GET /v1/models`. */
  received: Received[];
  close(): Promise<void>;
}

async function startFakeUpstream(answer: (req: IncomingMessage, res: ServerResponse) => void): Promise<FakeUpstream> {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      // Threadline asks for the upstream's models once, at start-up, to learn its context length.
      const modelsLookup = req.method === 'GET' && req.url === '/v1/models';
      if (!modelsLookup) received.push({ method: req.method!, url: req.url!, headers: req.headers, body: text === '' ? undefined : JSON.parse(text) });
      answer(req, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Answers every request with `status` (and `headers`) and an OpenAI error body. */
function failing(status: number, message: string, headers: Record<string, string> = {}) {
  return (_req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify({ error: { message, type: 'server_error', param: null, code: null } }));
  };
}

/** A loopback port with nothing listening on it: bound once, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Boots a Threadline with the `openai` engine for one test. */
async function withEngine<T>(env: NodeJS.ProcessEnv, run: (b: PipelineApp) => Promise<T>): Promise<T> {
  const b = await startPipeline({ LOG_LEVEL: 'debug', THREADLINE_ENGINE: 'openai', ...env });
  try {
    return await run(b);
  } finally {
    await b.close();
  }
}

function errorOf(reply: Reply): ErrorBody {
  expect(reply.contentType).toBe('application/json; charset=utf-8');
  return JSON.parse(reply.text) as ErrorBody;
}

// ---------------------------------------------------------------------------------------------------
// 1, 2. Threadline in front of Threadline
// ---------------------------------------------------------------------------------------------------

describe('Threadline (openai engine) in front of Threadline (mocker)', () => {
  let a: ServiceProcess;
  let b: PipelineApp;
  beforeAll(async () => {
    a = await startFromSource({ LOG_LEVEL: 'debug' });
    b = await startPipeline({ LOG_LEVEL: 'debug', THREADLINE_ENGINE: 'openai', UPSTREAM_URL: `${a.url}/v1` });
  }, 90_000);
  afterAll(async () => {
    await b?.close();
    await a?.stop();
  });

  /** Waits until A has logged the whole request (its stdout arrives a little after B answers). */
  function upstreamLines(id: string): Promise<LogLine[]> {
    return waitFor(() => {
      const lines = a.logs.forRequest(id);
      return lines.some((line) => line.msg === 'request completed') && lines.some((line) => line.msg === 'processor.generate ended') ? lines : undefined;
    });
  }

  /** The id on both instances' log lines: B's pipeline ran the openai engine, A's ran the mocker. */
  async function expectLoggedOnBoth(id: string): Promise<LogLine[]> {
    const own = b.logs.forRequest(id);
    expect(componentsOf(own)).toEqual(PIPELINE);
    expect(messages(own).filter((msg) => msg === 'incoming request')).toHaveLength(1);
    expect(messages(own, 'worker').filter((msg) => msg === 'handling worker.generate')).toHaveLength(1);
    expect(messages(own, 'worker')).toContain('OpenAIUpstreamEngine.generate started');
    expect(messages(own, 'worker')).toContain('OpenAIUpstreamEngine.generate ended');
    expect(messages(own).some((msg) => msg.startsWith('MockerEngine'))).toBe(false);

    const upstream = await upstreamLines(id);
    expect(componentsOf(upstream)).toEqual(PIPELINE);
    expect(messages(upstream).filter((msg) => msg === 'incoming request')).toHaveLength(1);
    expect(messages(upstream, 'frontend').filter((msg) => msg.startsWith('serving '))).toHaveLength(1);
    expect(messages(upstream, 'processor').filter((msg) => msg === 'handling processor.generate')).toHaveLength(1);
    expect(messages(upstream, 'worker').filter((msg) => msg === 'handling worker.generate')).toHaveLength(1);
    expect(messages(upstream, 'worker')).toContain('MockerEngine.generate started');
    expect(messages(upstream).some((msg) => msg.startsWith('OpenAIUpstreamEngine'))).toBe(false);
    return upstream;
  }

  const CASES = [
    { n: 1, api: 'chat' as const, stream: false },
    { n: 2, api: 'chat' as const, stream: true },
    { n: 3, api: 'completion' as const, stream: false },
    { n: 4, api: 'completion' as const, stream: true },
  ];

  it.each(CASES)('$api, stream=$stream: the id on the response and on both instances; the text A gives directly; usage', async ({ n, api, stream }) => {
    const id = `chain-${n}`;
    const prefix = api === 'chat' ? 'chatcmpl' : 'cmpl';
    const body = requestBody(api, n, streamed(stream));

    const viaB = await post(b.url, pathOf(api), body, id);
    expect(viaB.requestId).toBe(id);
    const chained = answer(api, stream, viaB);
    expect(new Set(chained.ids)).toEqual(new Set([`${prefix}-${id}`]));

    const direct = answer(api, stream, await post(a.url, pathOf(api), body, `direct-${n}`));
    expect(new Set(direct.ids)).toEqual(new Set([`${prefix}-direct-${n}`]));

    expect(chained.text.length).toBeGreaterThan(0);
    expect(chained.text).toBe(direct.text);
    // No max_tokens: the mocker's answer ends by itself.
    expect(direct.finishReason).toBe('stop');
    expect(chained.finishReason).toBe('stop');
    // B counts its own prompt tokens (same tokenizer and template as A) and the tokens A streamed.
    const { prompt_tokens, completion_tokens } = direct.usage!;
    expect(chained.usage).toEqual({
      prompt_tokens,
      completion_tokens,
      total_tokens: prompt_tokens + completion_tokens,
      prompt_tokens_details: { cached_tokens: 0 },
    });

    const upstream = await expectLoggedOnBoth(id);
    expect(messages(upstream, 'worker')).toContain(`generation finished: ${completion_tokens} tokens`);
  });

  it('without an incoming id: B generates one, and A logs that same id', async () => {
    const viaB = await post(b.url, CHAT, requestBody('chat', 5, { max_tokens: 4 }));
    expect(viaB.requestId).toMatch(UUID_V4);
    const id = viaB.requestId!;
    expect(answer('chat', false, viaB).ids).toEqual([`chatcmpl-${id}`]);
    await expectLoggedOnBoth(id);
  });

  it.each([
    { n: 6, api: 'chat' as const, stream: false },
    { n: 7, api: 'completion' as const, stream: true },
  ])('max_tokens reaches A ($api, stream=$stream): finish_reason length, the same text as A gives', async ({ n, api, stream }) => {
    const id = `chain-${n}`;
    const body = requestBody(api, n, { max_tokens: 5, ...streamed(stream) });
    const chained = answer(api, stream, await post(b.url, pathOf(api), body, id));
    const direct = answer(api, stream, await post(a.url, pathOf(api), body, `direct-${n}`));
    expect(chained.text).toBe(direct.text);
    expect(chained.finishReason).toBe('length');
    expect(chained.usage!.completion_tokens).toBe(5);
    expect(chained.usage!.prompt_tokens).toBe(direct.usage!.prompt_tokens);
    // A itself stopped at 5: the limit was passed on, not applied by B after the fact.
    const upstream = await expectLoggedOnBoth(id);
    expect(messages(upstream, 'worker')).toContain('generation finished: 5 tokens');
  });

  it.each([
    { n: 8, api: 'chat' as const, stream: false },
    { n: 9, api: 'chat' as const, stream: true },
    { n: 10, api: 'completion' as const, stream: false },
  ])('stop is honoured through B ($api, stream=$stream): the text ends before it, as A would end it', async ({ n, api, stream }) => {
    const id = `chain-${n}`;
    const full = answer(api, false, await post(a.url, pathOf(api), requestBody(api, n), `full-${n}`)).text;
    // A word from the middle of A's answer.
    const words = full.split(' ').filter((word) => /^[a-z]+$/.test(word));
    expect(words.length).toBeGreaterThan(4);
    const stop = words[3]!;
    const expected = full.slice(0, full.indexOf(stop));
    const body = requestBody(api, n, { stop: [stop], ...streamed(stream) });

    const chained = answer(api, stream, await post(b.url, pathOf(api), body, id));
    expect(chained.text).toBe(expected);
    expect(chained.finishReason).toBe('stop');
    const direct = answer(api, stream, await post(a.url, pathOf(api), body, `direct-${n}`));
    expect(direct.text).toBe(expected);
    expect(chained.usage).toEqual({ ...direct.usage!, prompt_tokens_details: { cached_tokens: 0 } });
    expect(messages(b.logs.forRequest(id), 'worker').filter((msg) => msg === 'handling worker.generate')).toHaveLength(1);
    expect((await waitFor(() => a.logs.forRequest(id).find((line) => line.msg === 'incoming request'))).requestId).toBe(id);
  });

  describe('the official openai client against B', () => {
    let client: OpenAI;
    beforeAll(() => {
      client = new OpenAI({ baseURL: `${b.url}/v1`, apiKey: 'test', maxRetries: 0 });
    });

    it('chat, non-streamed: _request_id is the id sent, the body id carries it, A logs it', async () => {
      const body = { model: MODEL, messages: [{ role: 'user' as const, content: 'tell me a story' }], seed: 11, max_tokens: 12 };
      const result = await client.chat.completions.create(body, { headers: { 'X-Request-Id': 'sdk-chain-1' } });
      expect(result._request_id).toBe('sdk-chain-1');
      expect(result.id).toBe('chatcmpl-sdk-chain-1');
      const direct = answer('chat', false, await post(a.url, CHAT, body, 'sdk-direct-1'));
      expect(result.choices[0]!.message.content).toBe(direct.text);
      expect(result.choices[0]!.finish_reason).toBe('length');
      await expectLoggedOnBoth('sdk-chain-1');
    });

    it('completions, streamed: withResponse().request_id is the id sent, every chunk carries it', async () => {
      const body = { model: MODEL, prompt: 'Once upon a time', seed: 3, max_tokens: 9 };
      const { data: stream, request_id } = await client.completions
        .create({ ...body, stream: true }, { headers: { 'X-Request-Id': 'sdk-chain-2' } })
        .withResponse();
      expect(request_id).toBe('sdk-chain-2');
      let text = '';
      let last: string | null = null;
      for await (const chunk of stream) {
        expect(chunk.id).toBe('cmpl-sdk-chain-2');
        text += chunk.choices[0]!.text;
        last = chunk.choices[0]!.finish_reason;
      }
      const direct = answer('completion', false, await post(a.url, COMPLETIONS, body, 'sdk-direct-2'));
      expect(text).toBe(direct.text);
      expect(last).toBe('length');
      await expectLoggedOnBoth('sdk-chain-2');
    });
  });

  // -------------------------------------------------------------------------------------------------
  // 3. An upstream 4xx passes through. These start a second app in this process, which takes over
  // the process-wide loggers from `b`: keep them after every test that reads b.logs.
  // -------------------------------------------------------------------------------------------------

  it.each([
    { api: 'chat' as const, id: 'nope-chat-1' },
    { api: 'completion' as const, id: 'nope-cmpl-1' },
  ])('an upstream 4xx (UPSTREAM_MODEL=nope, $api): 404 with the upstream reason; A logged the id', async ({ api, id }) => {
    await withEngine({ UPSTREAM_URL: `${a.url}/v1`, UPSTREAM_MODEL: 'nope' }, async (nope) => {
      const reply = await post(nope.url, pathOf(api), requestBody(api, 20), id);
      expect(reply.status).toBe(404);
      expect(reply.requestId).toBe(id);
      expect(errorOf(reply)).toEqual({
        error: {
          message: 'The upstream model server refused the request: 404 The model `nope` does not exist. This server serves `threadline-mocker`.',
          type: 'invalid_request_error',
          param: null,
          code: 'upstream_rejected',
        },
      });
    });
    const upstream = await waitFor(() => {
      const lines = a.logs.forRequest(id);
      return lines.some((line) => line.msg === 'request completed') ? lines : undefined;
    });
    expect(upstream.find((line) => line.msg === 'request completed')).toMatchObject({ requestId: id, res: { statusCode: 404 } });
  });

  it('an upstream 4xx on a stream: the same 4xx, before any SSE byte (the upstream refused it before its head)', async () => {
    await withEngine({ UPSTREAM_URL: `${a.url}/v1`, UPSTREAM_MODEL: 'nope' }, async (nope) => {
      const reply = await post(nope.url, CHAT, requestBody('chat', 21, { stream: true }), 'nope-stream-1');
      expect(reply.status).toBe(404);
      expect(reply.requestId).toBe('nope-stream-1');
      expect(reply.retryAfter).toBeNull();
      expect(errorOf(reply)).toEqual({
        error: {
          message: 'The upstream model server refused the request: 404 The model `nope` does not exist. This server serves `threadline-mocker`.',
          type: 'invalid_request_error',
          param: null,
          code: 'upstream_rejected',
        },
      });
    });
  });
});

// ---------------------------------------------------------------------------------------------------
// 3. Upstream failures
// ---------------------------------------------------------------------------------------------------

describe('an upstream that fails', () => {
  it.each([
    { status: 500, api: 'chat' as const, id: 'up500-chat' },
    { status: 500, api: 'completion' as const, id: 'up500-cmpl' },
  ])('upstream $status ($api): B answers 502 upstream_error naming the upstream and the id', async ({ status, api, id }) => {
    const fake = await startFakeUpstream(failing(status, 'the GPU caught fire'));
    try {
      await withEngine({ UPSTREAM_URL: fake.url }, async (b) => {
        const reply = await post(b.url, pathOf(api), requestBody(api, 30, { max_tokens: 7 }), id);
        expect(reply.status).toBe(502);
        expect(reply.requestId).toBe(id);
        expect(errorOf(reply)).toEqual({
          error: {
            message: `The upstream model server at ${fake.url} failed (${status}): ${status} the GPU caught fire (request id ${id})`,
            type: 'server_error',
            param: null,
            code: 'upstream_error',
          },
        });
        // B logged the failure with the id.
        const failed = b.logs.forRequest(id).filter((line) => line.level === 50);
        expect(failed.map((line) => line.msg)).toContain(`request failed: The upstream model server at ${fake.url} failed (${status}): ${status} the GPU caught fire (request id ${id})`);
      });
      // The one request the upstream saw: the id passed on, streaming, no retry.
      expect(fake.received).toHaveLength(1);
      const [sent] = fake.received;
      expect(sent!.method).toBe('POST');
      expect(sent!.url).toBe(pathOf(api));
      expect(sent!.headers['x-request-id']).toBe(id);
      expect(sent!.headers.authorization).toBe('Bearer none');
      const original = api === 'chat' ? { messages: requestBody('chat', 30).messages } : { prompt: requestBody('completion', 30).prompt };
      expect(sent!.body).toEqual({ model: MODEL, max_tokens: 7, temperature: 1, seed: 70, stream: true, ...original });
    } finally {
      await fake.close();
    }
  });

  it.each([
    { api: 'chat' as const, id: 'up500-stream-chat' },
    { api: 'completion' as const, id: 'up500-stream-cmpl' },
  ])('upstream 500 on a stream ($api): 502 upstream_error before any SSE byte, logged as a fault', async ({ api, id }) => {
    const fake = await startFakeUpstream(failing(500, 'the GPU caught fire'));
    try {
      await withEngine({ UPSTREAM_URL: fake.url }, async (b) => {
        const reply = await post(b.url, pathOf(api), requestBody(api, 31, { stream: true }), id);
        expect(reply.status).toBe(502);
        expect(reply.requestId).toBe(id);
        expect(reply.retryAfter).toBeNull();
        expect(errorOf(reply)).toEqual({
          error: {
            message: `The upstream model server at ${fake.url} failed (500): 500 the GPU caught fire (request id ${id})`,
            type: 'server_error',
            param: null,
            code: 'upstream_error',
          },
        });
      });
      expect(fake.received.map((r) => r.headers['x-request-id'])).toEqual([id]);
    } finally {
      await fake.close();
    }
  });

  /** The lines B logged for `id` at warn (40) and at error (50). */
  function refusalLines(b: PipelineApp, id: string): { warn: string[]; error: string[] } {
    const lines = b.logs.forRequest(id);
    return {
      warn: lines.filter((line) => line.level === 40).map((line) => String(line.msg)),
      error: lines.filter((line) => line.level === 50).map((line) => String(line.msg)),
    };
  }

  it.each([
    { api: 'chat' as const, stream: true, id: 'up429-stream-chat' },
    { api: 'completion' as const, stream: true, id: 'up429-stream-cmpl' },
    { api: 'chat' as const, stream: false, id: 'up429-chat' },
  ])("upstream 429 with Retry-After: 7 ($api, stream $stream): our 429 rate_limit_exceeded with Retry-After: 7, before any SSE byte, one warn line", async ({ api, stream, id }) => {
    const fake = await startFakeUpstream(failing(429, 'too many requests', { 'retry-after': '7' }));
    try {
      await withEngine({ UPSTREAM_URL: fake.url }, async (b) => {
        const reply = await post(b.url, pathOf(api), requestBody(api, 38, stream ? { stream: true } : {}), id);
        expect(reply.status).toBe(429);
        expect(reply.requestId).toBe(id);
        expect(reply.retryAfter).toBe('7');
        const message = `The upstream model server at ${fake.url} is at capacity (429): 429 too many requests (request id ${id})`;
        expect(errorOf(reply)).toEqual({ error: { message, type: 'requests', param: null, code: 'rate_limit_exceeded' } });
        const logged = await waitFor(() => {
          const lines = refusalLines(b, id);
          return lines.warn.length > 0 ? lines : undefined;
        });
        expect(logged).toEqual({ warn: [`request refused: ${message}`], error: [] });
      });
      expect(fake.received.map((r) => r.headers['x-request-id'])).toEqual([id]);
    } finally {
      await fake.close();
    }
  });

  it('upstream 429 without Retry-After (stream): our 429 with the configured Retry-After', async () => {
    const fake = await startFakeUpstream(failing(429, 'too many requests'));
    try {
      await withEngine({ UPSTREAM_URL: fake.url, THREADLINE_RETRY_AFTER_SECONDS: '3' }, async (b) => {
        const reply = await post(b.url, CHAT, requestBody('chat', 39, { stream: true }), 'up429-noretry');
        expect(reply.status).toBe(429);
        expect(reply.retryAfter).toBe('3');
        expect(errorOf(reply).error.code).toBe('rate_limit_exceeded');
      });
    } finally {
      await fake.close();
    }
  });

  it.each([
    { status: 503, api: 'chat' as const, stream: true, id: 'up503-stream-chat' },
    { status: 503, api: 'completion' as const, stream: true, id: 'up503-stream-cmpl' },
    { status: 503, api: 'chat' as const, stream: false, id: 'up503-chat' },
    { status: 503, api: 'completion' as const, stream: false, id: 'up503-cmpl' },
    { status: 502, api: 'chat' as const, stream: true, id: 'up502-stream-chat' },
    { status: 504, api: 'chat' as const, stream: true, id: 'up504-stream-chat' },
  ])('upstream $status ($api, stream $stream): our 503 upstream_unavailable with Retry-After, before any SSE byte, one warn line', async ({ status, api, stream, id }) => {
    const fake = await startFakeUpstream(failing(status, 'the GPU is busy'));
    try {
      await withEngine({ UPSTREAM_URL: fake.url }, async (b) => {
        const reply = await post(b.url, pathOf(api), requestBody(api, 40, stream ? { stream: true, max_tokens: 7 } : { max_tokens: 7 }), id);
        expect(reply.status).toBe(503);
        expect(reply.requestId).toBe(id);
        expect(reply.retryAfter).toBe('1');
        const message = `The upstream model server at ${fake.url} is unavailable (${status}): ${status} the GPU is busy (request id ${id})`;
        expect(errorOf(reply)).toEqual({ error: { message, type: 'server_error', param: null, code: 'upstream_unavailable' } });
        const logged = await waitFor(() => {
          const lines = refusalLines(b, id);
          return lines.warn.length > 0 ? lines : undefined;
        });
        expect(logged).toEqual({ warn: [`request refused: ${message}`], error: [] });
      });
      // The one request the upstream saw: streaming, no retry.
      expect(fake.received).toHaveLength(1);
      expect(fake.received[0]!.headers['x-request-id']).toBe(id);
      expect((fake.received[0]!.body as { stream: boolean }).stream).toBe(true);
    } finally {
      await fake.close();
    }
  });

  it('upstream 503 with Retry-After: 12 (stream): our 503 passes it on', async () => {
    const fake = await startFakeUpstream(failing(503, 'warming up', { 'retry-after': '12' }));
    try {
      await withEngine({ UPSTREAM_URL: fake.url }, async (b) => {
        const reply = await post(b.url, CHAT, requestBody('chat', 41, { stream: true }), 'up503-retry');
        expect(reply.status).toBe(503);
        expect(reply.retryAfter).toBe('12');
        expect(errorOf(reply).error.code).toBe('upstream_unavailable');
      });
    } finally {
      await fake.close();
    }
  });

  /**
   * An upstream that had accepted a streamed request and then fails sends its error as an SSE event
   * (as Threadline itself does, and vLLM): status 200, `data: {"error": ...}`. That is an upstream
   * failure like a 5xx, and should reach the client as one, with the upstream's reason.
   */
  function failingMidStream(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const chat = req.url === CHAT;
    const chunk = chat
      ? { id: 'x', object: 'chat.completion.chunk', created: 0, model: MODEL, choices: [{ index: 0, delta: { content: ' Hello' }, finish_reason: null }] }
      : { id: 'x', object: 'text_completion', created: 0, model: MODEL, choices: [{ index: 0, text: ' Hello', finish_reason: null }] };
    res.write(`data: ${JSON.stringify(chunk)}\n\n`);
    res.end(`data: ${JSON.stringify({ error: { message: 'The worker is overloaded; retry later.', type: 'server_error', param: null, code: 'overloaded' } })}\n\n`);
  }

  it.each([
    { api: 'chat' as const, id: 'midstream-chat' },
    { api: 'completion' as const, id: 'midstream-cmpl' },
  ])('an error event in the upstream stream ($api, non-streamed to the client): 502 upstream_error with the upstream reason', async ({ api, id }) => {
    const fake = await startFakeUpstream(failingMidStream);
    try {
      await withEngine({ UPSTREAM_URL: fake.url }, async (b) => {
        const reply = await post(b.url, pathOf(api), requestBody(api, 35), id);
        expect(reply.requestId).toBe(id);
        const body = errorOf(reply);
        expect({ status: reply.status, type: body.error.type, param: body.error.param, code: body.error.code }).toEqual({
          status: 502,
          type: 'server_error',
          param: null,
          code: 'upstream_error',
        });
        expect(body.error.message.startsWith(`The upstream model server at ${fake.url} failed (mid-stream): `)).toBe(true);
        expect(body.error.message).toContain('The worker is overloaded; retry later.');
        expect(body.error.message.endsWith(`(request id ${id})`)).toBe(true);
      });
    } finally {
      await fake.close();
    }
  });

  it('an error event in the upstream stream (streamed to the client): the text so far, then an upstream_error event', async () => {
    const fake = await startFakeUpstream(failingMidStream);
    try {
      await withEngine({ UPSTREAM_URL: fake.url }, async (b) => {
        const id = 'midstream-stream';
        const reply = await post(b.url, CHAT, requestBody('chat', 36, { stream: true }), id);
        expect(reply.status).toBe(200);
        const data = events(reply.text).map((event) => JSON.parse(event) as Body & Partial<ErrorBody>);
        expect(data).toHaveLength(3);
        expect(data[1]!.choices[0]!.delta).toEqual({ content: ' Hello' });
        const { error } = data[2]!;
        expect({ type: error!.type, param: error!.param, code: error!.code }).toEqual({ type: 'server_error', param: null, code: 'upstream_error' });
        expect(error!.message.startsWith(`The upstream model server at ${fake.url} failed (mid-stream): `)).toBe(true);
        expect(error!.message).toContain('The worker is overloaded; retry later.');
        expect(error!.message.endsWith(`(request id ${id})`)).toBe(true);
      });
    } finally {
      await fake.close();
    }
  });

  it('UPSTREAM_API_KEY is sent to the upstream as a bearer token', async () => {
    const fake = await startFakeUpstream(failing(500, 'nope'));
    try {
      await withEngine({ UPSTREAM_URL: fake.url, UPSTREAM_API_KEY: 'sk-upstream-test' }, async (b) => {
        expect((await post(b.url, CHAT, requestBody('chat', 32), 'key-1')).status).toBe(502);
      });
      expect(fake.received.map((r) => r.headers.authorization)).toEqual(['Bearer sk-upstream-test']);
    } finally {
      await fake.close();
    }
  });

  it("passes a valid W3C traceparent on to the upstream, and drops an invalid one", async () => {
    const fake = await startFakeUpstream(failing(500, 'nope'));
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    try {
      await withEngine({ UPSTREAM_URL: fake.url }, async (b) => {
        for (const [id, sent] of [['tp-valid', traceparent], ['tp-invalid', '00-zz-not-a-trace-context-01']]) {
          await fetch(`${b.url}${CHAT}`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'x-request-id': id!, traceparent: sent! },
            body: JSON.stringify(requestBody('chat', 37)),
          });
        }
      });
      expect(fake.received.map((r) => [r.headers['x-request-id'], r.headers.traceparent])).toEqual([
        ['tp-valid', traceparent],
        ['tp-invalid', undefined],
      ]);
    } finally {
      await fake.close();
    }
  });

  it.each([
    { api: 'chat' as const, stream: false, id: 'unreach-chat' },
    { api: 'completion' as const, stream: false, id: 'unreach-cmpl' },
    { api: 'chat' as const, stream: true, id: 'unreach-stream-chat' },
  ])('an unreachable upstream ($api, stream $stream): 503 upstream_unreachable with Retry-After, naming the URL and the id', async ({ api, stream, id }) => {
    const url = `http://127.0.0.1:${await closedPort()}/v1`;
    await withEngine({ UPSTREAM_URL: url }, async (b) => {
      const reply = await post(b.url, pathOf(api), requestBody(api, 33, stream ? { stream: true } : {}), id);
      expect(reply.status).toBe(503);
      expect(reply.requestId).toBe(id);
      expect(reply.retryAfter).toBe('1');
      expect(errorOf(reply)).toEqual({
        error: {
          message: `The upstream model server at ${url} is unreachable: Connection error. (request id ${id})`,
          type: 'server_error',
          param: null,
          code: 'upstream_unreachable',
        },
      });
    });
  });

  it('an upstream that does not answer within UPSTREAM_TIMEOUT_MS: 504 upstream_timeout naming the URL and the id', async () => {
    const fake = await startFakeUpstream(() => undefined);
    try {
      await withEngine({ UPSTREAM_URL: fake.url, UPSTREAM_TIMEOUT_MS: '300' }, async (b) => {
        const reply = await post(b.url, CHAT, requestBody('chat', 34), 'slow-1');
        expect(reply.status).toBe(504);
        expect(reply.requestId).toBe('slow-1');
        expect(errorOf(reply)).toEqual({
          error: {
            message: `The upstream model server at ${fake.url} did not answer in time. (request id slow-1)`,
            type: 'server_error',
            param: null,
            code: 'upstream_timeout',
          },
        });
      });
      expect(fake.received.map((r) => r.headers['x-request-id'])).toEqual(['slow-1']);
    } finally {
      await fake.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------------
// 3. A client that disconnects from B stops A's worker
// ---------------------------------------------------------------------------------------------------

describe('a client that disconnects mid-stream from B', () => {
  let a: ServiceProcess;
  let b: PipelineApp;
  beforeAll(async () => {
    a = await startFromSource({ LOG_LEVEL: 'debug', MOCKER_DECODE_MS_PER_TOKEN: '5' });
    b = await startPipeline({ LOG_LEVEL: 'debug', THREADLINE_ENGINE: 'openai', UPSTREAM_URL: `${a.url}/v1` });
  }, 90_000);
  afterAll(async () => {
    await b?.close();
    await a?.stop();
  });

  /**
   * Streams a long completion through B as `id`, reads 5 events, and disconnects. Returns the length
   * of A's answer had it run to the end.
   */
  async function disconnectMidStream(id: string): Promise<number> {
    const prompt = 'a long story';
    // A seed whose answer is long (the mocker's natural length is 16-159 tokens), so there is a lot left to stop.
    const promptIds = new Tokenizer().encode(prompt);
    const seed = Array.from({ length: 1000 }, (_, s) => s).find((s) => new MockText(promptIds, s).length >= 150)!;
    const abort = new AbortController();
    const res = await fetch(`${b.url}${COMPLETIONS}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': id },
      body: JSON.stringify({ model: MODEL, prompt, max_tokens: 4000, stream: true, seed }),
      signal: abort.signal,
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-request-id')).toBe(id);
    const reader = res.body!.getReader();
    let received = '';
    while ((received.match(/data: /g) ?? []).length < 5) received += new TextDecoder().decode((await reader.read()).value);
    abort.abort();
    return new MockText(promptIds, seed).length;
  }

  it("stops A's worker generating; A logs the stop with the id", async () => {
    const limit = await disconnectMidStream('gone-chain-1');
    const stopLine = await waitFor(() =>
      a.logs.forRequest('gone-chain-1').find((line) => line.component === 'worker' && String(line.msg).startsWith('generation stopped')),
    );
    expect(stopLine).toMatchObject({ requestId: 'gone-chain-1', component: 'worker', context: 'MockerEngine' });
    expect(stopLine.msg).toBe(`generation stopped after ${stopLine.produced as number} of ${limit} tokens: request cancelled`);
    expect(stopLine.produced as number).toBeGreaterThanOrEqual(5);
    expect(stopLine.produced as number).toBeLessThan(limit);
    expect(a.logs.forRequest('gone-chain-1').some((line) => String(line.msg).startsWith('generation finished'))).toBe(false);
    // B stopped reading from A, and did not report the cancellation as a failure.
    const own = await waitFor(() => {
      const lines = b.logs.forRequest('gone-chain-1');
      return lines.some((line) => line.msg === 'processor.generate cancelled') ? lines : undefined;
    });
    expect(own.filter((line) => line.level >= 50)).toEqual([]);
  });

  it("B's openai engine logs its own stop with the id ('upstream generation stopped: request cancelled')", async () => {
    await disconnectMidStream('gone-chain-2');
    await waitFor(() => a.logs.forRequest('gone-chain-2').find((line) => String(line.msg).startsWith('generation stopped')));
    const stopLine = await waitFor(
      () => b.logs.forRequest('gone-chain-2').find((line) => line.msg === 'upstream generation stopped: request cancelled'),
      3000,
    ).catch(() => undefined);
    expect(
      stopLine,
      `B's lines for the request: ${JSON.stringify(b.logs.forRequest('gone-chain-2').map((line) => `${String(line.component)}: ${String(line.msg)}`))}`,
    ).toMatchObject({ requestId: 'gone-chain-2', component: 'worker', level: 30 });
  });
});

// ---------------------------------------------------------------------------------------------------
// 4. Configuration
// ---------------------------------------------------------------------------------------------------

describe('the openai engine configuration', () => {
  it('THREADLINE_ENGINE=openai without UPSTREAM_URL: a ConfigError naming UPSTREAM_URL', () => {
    expect(() => loadLlmConfig({ THREADLINE_ENGINE: 'openai' })).toThrow(
      'Invalid configuration: UPSTREAM_URL must be set when THREADLINE_ENGINE=openai (the OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1)',
    );
  });

  it.each(['ftp://x', 'not a url', ''])('UPSTREAM_URL %j: a ConfigError naming UPSTREAM_URL', (value) => {
    expect(() => loadLlmConfig({ THREADLINE_ENGINE: 'openai', UPSTREAM_URL: value })).toThrow(
      `Invalid configuration: UPSTREAM_URL must be an http(s) URL, got ${JSON.stringify(value)}`,
    );
  });

  it('the error is a ConfigError', () => {
    let thrown: unknown;
    try {
      loadLlmConfig({ THREADLINE_ENGINE: 'openai', UPSTREAM_URL: 'ftp://x' });
    } catch (error) {
      thrown = error;
    }
    expect((thrown as Error).name).toBe('ConfigError');
  });

  it('a valid upstream: trailing slashes dropped, the model defaults to the served one, the timeout to 10 minutes', () => {
    expect(loadLlmConfig({ THREADLINE_ENGINE: 'openai', UPSTREAM_URL: 'http://127.0.0.1:8000/v1/' }).upstream).toEqual({
      url: 'http://127.0.0.1:8000/v1',
      apiKey: undefined,
      model: MODEL,
      timeoutMs: 600_000,
    });
    expect(
      loadLlmConfig({ THREADLINE_ENGINE: 'openai', UPSTREAM_URL: 'https://llm.example/v1', UPSTREAM_API_KEY: 'k', UPSTREAM_MODEL: 'm', UPSTREAM_TIMEOUT_MS: '1500' }).upstream,
    ).toEqual({ url: 'https://llm.example/v1', apiKey: 'k', model: 'm', timeoutMs: 1500 });
  });

  it('UPSTREAM_TIMEOUT_MS out of range, and disaggregation with the openai engine, are refused by name', () => {
    expect(() => loadLlmConfig({ THREADLINE_ENGINE: 'openai', UPSTREAM_URL: 'http://h/v1', UPSTREAM_TIMEOUT_MS: '0' })).toThrow(
      'Invalid configuration: UPSTREAM_TIMEOUT_MS must be a number from 1 to 86400000, got "0"',
    );
    expect(() => loadLlmConfig({ THREADLINE_ENGINE: 'openai', UPSTREAM_URL: 'http://h/v1', THREADLINE_DISAGG: '1' })).toThrow(/^Invalid configuration: THREADLINE_DISAGG /);
  });
});
