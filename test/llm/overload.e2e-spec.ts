import { request } from 'node:http';
import OpenAI, { RateLimitError } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flood, percentile } from '../support/flood.js';
import type { FloodOutcome, FloodRequest } from '../support/flood.js';
import type { LogCapture, LogLine } from '../support/log-capture.js';
import { describeWithNats, startNatsServer } from '../support/nats-server.js';
import type { NatsServer } from '../support/nats-server.js';
import { startPipeline } from '../support/pipeline-app.js';
import type { PipelineApp } from '../support/pipeline-app.js';
import { rawRequest, requestHead } from '../support/raw-http.js';
import type { ErrorBody } from '../support/requests.js';
import { startComponentsFromSource, startFromSource } from '../support/service-process.js';
import type { ComponentProcess, ServiceProcess } from '../support/service-process.js';
import { waitFor } from '../support/wait-for.js';

/**
 * Overload that clients can act on. A request that cannot be admitted is refused
 * before any header is written: 429 when the workers' queues are full, 503 when no worker can serve,
 * each with `Retry-After` and an OpenAI error body naming the id, and one warn line (no stack, no error
 * line). In one process and over NATS, and under a flood (sizes scaled for CI: FLOOD_REQUESTS below).
 */

const MODEL = 'threadline-mocker';
const CHAT = '/v1/chat/completions';
const COMPLETIONS = '/v1/completions';
const WARN = 40;

/** One slot and one place in the queue per worker, and tokens slow enough that they stay taken. */
const TINY_WORKER = { MOCKER_MAX_RUNNING: '1', MOCKER_MAX_WAITING: '1', MOCKER_DECODE_MS_PER_TOKEN: '50' };
/** Tokens a held stream asks for: 100 × 50 ms keeps its slot for 5 s, far longer than the checks take. */
const HELD_TOKENS = 100;

type Api = 'chat' | 'completion';

function body(api: Api, text: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return api === 'chat'
    ? { model: MODEL, messages: [{ role: 'user', content: text }], ...extra }
    : { model: MODEL, prompt: text, ...extra };
}

function pathOf(api: Api): string {
  return api === 'chat' ? CHAT : COMPLETIONS;
}

/** A streamed request kept open: its status, its first bytes, and the means to end it. */
interface HeldStream {
  status: number;
  firstBytes: string;
  stop(): void;
}

/**
 * Opens a stream and returns once its head and first bytes (the `: ok` comment of an admitted stream;
 * its opening chunk waits for the first token) have arrived, leaving it running. On a connection of its
 * own (node:http, not fetch), which `stop()` destroys.
 */
function holdStream(url: string, id: string): Promise<HeldStream> {
  const payload = JSON.stringify(body('chat', `hold ${id}`, { stream: true, max_tokens: HELD_TOKENS }));
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}${CHAT}`,
      { method: 'POST', agent: false, headers: { 'content-type': 'application/json', 'x-request-id': id } },
      (res) => {
        let firstBytes = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          firstBytes += chunk;
          if (firstBytes.startsWith(': ok\n\n'))
            resolve({ status: res.statusCode!, firstBytes, stop: () => req.destroy() });
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** A request over a raw socket, so that the exact bytes of the answer are seen: no SSE byte may precede a refusal. */
async function rawPost(port: number, path: string, payload: object, id: string) {
  const json = JSON.stringify(payload);
  const head = requestHead('POST', path, [
    'Content-Type: application/json',
    `Content-Length: ${Buffer.byteLength(json)}`,
    `X-Request-Id: ${id}`,
  ]);
  return rawRequest(port, head, json);
}

function portOf(url: string): number {
  return Number(new URL(url).port);
}

/** Asserts the refusal shape: status, `Retry-After`, JSON (never an event stream), and the OpenAI body naming the id. */
function expectRefusal(
  res: { status: number; headers: Record<string, string>; body: string },
  status: number,
  id: string,
  code: string,
  type: string,
): void {
  expect(res.status, res.body).toBe(status);
  expect(res.headers['retry-after']).toBe('1');
  expect(res.headers['x-request-id']).toBe(id);
  expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
  expect(res.body).not.toContain('data:');
  const { error } = JSON.parse(res.body) as { error: { message: string; type: string; param: null; code: string } };
  expect(error).toMatchObject({ type, param: null, code });
  expect(error.message.endsWith(`(request id ${id})`)).toBe(true);
}

/** The lines a refusal left: exactly one warn line with its id and reason, and nothing at error or above. */
function expectOneWarnLine(logs: LogCapture, id: string, reason: RegExp): void {
  const lines = logs.forRequest(id);
  const loud = lines.filter((line) => line.level >= WARN);
  expect(
    loud.map((line) => [line.level, line.msg]),
    JSON.stringify(lines),
  ).toEqual([[WARN, expect.stringMatching(reason)]]);
  expect(Object.keys(loud[0]!)).not.toContain('err');
  expect(logs.raw.filter((raw) => raw.includes(`"requestId":"${id}"`)).join('\n')).not.toMatch(/stack/i);
}

/** Sends a short chat request every 50 ms until one is served (a worker freed, or heard of), or fails after `timeoutMs`. */
async function untilServed(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await fetch(`${url}${CHAT}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body('chat', 'up?', { max_tokens: 1 })),
    });
    await res.text();
    if (res.status === 200) return;
    if (Date.now() > deadline) throw new Error(`no request served within ${timeoutMs} ms (last: ${res.status})`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function errorLines(lines: readonly LogLine[]): LogLine[] {
  return lines.filter((line) => line.level >= 50);
}

// ---------------------------------------------------------------------------------------------------
// 1. A full queue, in one process
// ---------------------------------------------------------------------------------------------------

describe('a full queue, in one process (one worker: MOCKER_MAX_RUNNING=1, MOCKER_MAX_WAITING=1)', () => {
  let service: PipelineApp;
  let running: HeldStream;
  let queued: HeldStream;

  beforeAll(async () => {
    service = await startPipeline({ ...TINY_WORKER, THREADLINE_WORKERS: '1' });
    running = await holdStream(service.url, 'held-running');
    queued = await holdStream(service.url, 'held-queued');
  });

  afterAll(async () => {
    running?.stop();
    queued?.stop();
    await service?.close();
  });

  it('a stream that has to wait in the queue is admitted: 200 and its head at once, before any token', () => {
    expect(running.status).toBe(200);
    expect(queued.status).toBe(200);
    expect(queued.firstBytes.startsWith(': ok\n\n')).toBe(true);
    // The running stream holds the only slot for seconds: the queued one has its head, and no token yet.
    expect(queued.firstBytes).not.toMatch(/"content":"[^"]/);
  });

  it.each([
    { api: 'chat' as const, stream: true },
    { api: 'chat' as const, stream: false },
    { api: 'completion' as const, stream: true },
    { api: 'completion' as const, stream: false },
  ])(
    'an extra request ($api, stream: $stream) gets 429 with Retry-After and an OpenAI body naming the id, before any SSE byte',
    async ({ api, stream }) => {
      const id = `full-${api}-${stream ? 'stream' : 'json'}`;
      const res = await rawPost(
        portOf(service.url),
        pathOf(api),
        body(api, 'one too many', { stream, max_tokens: 5 }),
        id,
      );
      expectRefusal(res, 429, id, 'rate_limit_exceeded', 'requests');
      expect((JSON.parse(res.body) as ErrorBody).error.message).toBe(
        `The worker is at capacity; retry later. (request id ${id})`,
      );
    },
  );

  it('each refusal is one warn line with the id and the reason: no stack, and no error line anywhere', async () => {
    const id = 'full-logged';
    expect((await rawPost(portOf(service.url), CHAT, body('chat', 'logged', { stream: true }), id)).status).toBe(429);
    expectOneWarnLine(service.logs, id, /^request refused: The worker is at capacity; retry later\./);
    expect(service.logs.forRequest(id).find((line) => line.level === WARN)).toMatchObject({
      requestId: id,
      status: 429,
      code: 'rate_limit_exceeded',
    });
    expect(errorLines(service.logs.lines)).toEqual([]);
  });

  it('the official openai client sees the 429 as a RateLimitError carrying the id, streamed or not', async () => {
    const client = new OpenAI({ baseURL: `${service.url}/v1`, apiKey: 'none', maxRetries: 0 });
    for (const stream of [false, true]) {
      const id = `sdk-429-${stream}`;
      const failure = await client.chat.completions
        .create(
          { model: MODEL, messages: [{ role: 'user', content: 'hi' }], stream },
          { headers: { 'X-Request-Id': id } },
        )
        .then(
          () => undefined,
          (error: unknown) => error,
        );
      expect(failure).toBeInstanceOf(RateLimitError);
      expect(failure).toMatchObject({ status: 429, code: 'rate_limit_exceeded', type: 'requests', requestID: id });
    }
  });

  it('the official openai client, allowed one retry, retries a 429 after the Retry-After it was given', async () => {
    const id = 'sdk-429-retried';
    const client = new OpenAI({ baseURL: `${service.url}/v1`, apiKey: 'none', maxRetries: 1 });
    const failure = await client.chat.completions
      .create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] }, { headers: { 'X-Request-Id': id } })
      .then(
        () => undefined,
        (error: unknown) => error,
      );
    expect(failure).toBeInstanceOf(RateLimitError);
    // Two refusals of the same id: the first answer and its retry, a Retry-After (1 s) apart.
    const refusals = service.logs.forRequest(id).filter((line) => line.level === WARN);
    expect(refusals).toHaveLength(2);
    expect((refusals[1]!.time as number) - (refusals[0]!.time as number)).toBeGreaterThanOrEqual(900);
  });

  it('once the held streams end, the next request is served', async () => {
    running.stop();
    queued.stop();
    await untilServed(service.url, 5000);
  });

  it('a request whose choices do not all fit is refused whole, and gives back the places its other choices took', async () => {
    // n = 3 on the idle worker: one choice runs, one queues, the third is refused by the worker itself.
    const id = 'full-n3';
    const res = await rawPost(
      portOf(service.url),
      CHAT,
      body('chat', 'three at once', { n: 3, max_tokens: 2, stream: true }),
      id,
    );
    expectRefusal(res, 429, id, 'rate_limit_exceeded', 'requests');
    expect((JSON.parse(res.body) as ErrorBody).error.message).toBe(
      `The worker is at capacity (1 running, 1 waiting); retry later. (request id ${id})`,
    );
    expectOneWarnLine(service.logs, id, /^request refused: The worker is at capacity/);
    const after = await rawPost(
      portOf(service.url),
      CHAT,
      body('chat', 'then one', { n: 2, max_tokens: 2 }),
      'full-n3-after',
    );
    expect(after.status, after.body).toBe(200);
  });
});

// ---------------------------------------------------------------------------------------------------
// 2. Over NATS: no worker at all (503), then a worker at capacity (429)
// ---------------------------------------------------------------------------------------------------

describeWithNats('over NATS: nothing to serve (503), then a full queue (429)', () => {
  let nats: NatsServer;
  let front: ComponentProcess;
  let worker: ComponentProcess | undefined;
  const held: HeldStream[] = [];

  const common = (server: NatsServer): NodeJS.ProcessEnv => ({
    THREADLINE_TRANSPORT: 'nats',
    NATS_URL: server.url,
    THREADLINE_SHUTDOWN_GRACE_MS: '500',
  });

  beforeAll(async () => {
    nats = await startNatsServer();
    front = await startComponentsFromSource('front', {
      ...common(nats),
      THREADLINE_COMPONENTS: 'frontend,processor,router',
    });
  }, 90_000);

  afterAll(async () => {
    for (const stream of held) stream.stop();
    await Promise.all([front?.stop(2000), worker?.stop(2000)]);
    await nats?.stop();
  }, 30_000);

  it.each([
    { api: 'chat' as const, stream: true },
    { api: 'completion' as const, stream: false },
  ])(
    'with no worker process, a request ($api, stream: $stream) gets 503 no_worker_available with Retry-After, before any SSE byte',
    async ({ api, stream }) => {
      const id = `nats-none-${api}-${stream}`;
      const res = await rawPost(portOf(front.url!), pathOf(api), body(api, 'anyone?', { stream }), id);
      expectRefusal(res, 503, id, 'no_worker_available', 'server_error');
      expectOneWarnLine(front.logs, id, /^request refused: No worker is available\./);
    },
  );

  it('with a worker process at capacity, an extra stream gets 429 with Retry-After; one warn line, no error line in either process', async () => {
    worker = await startComponentsFromSource('worker', {
      ...common(nats),
      THREADLINE_COMPONENTS: 'worker',
      THREADLINE_WORKERS: '1',
      ...TINY_WORKER,
    });
    // The router hears of the worker by its heartbeat: wait until a request is served.
    await untilServed(front.url!, 15_000);
    held.push(await holdStream(front.url!, 'nats-held-running'), await holdStream(front.url!, 'nats-held-queued'));
    expect(held.map((stream) => stream.status)).toEqual([200, 200]);
    const id = 'nats-full-stream';
    const res = await rawPost(portOf(front.url!), CHAT, body('chat', 'one too many', { stream: true }), id);
    expectRefusal(res, 429, id, 'rate_limit_exceeded', 'requests');
    expectOneWarnLine(front.logs, id, /^request refused: The worker is at capacity; retry later\./);
    expect(errorLines(front.logs.lines)).toEqual([]);
    expect(errorLines(worker.logs.lines)).toEqual([]);
  }, 60_000);
});

// ---------------------------------------------------------------------------------------------------
// 3. A flood
// ---------------------------------------------------------------------------------------------------

/** The flood, sized for a CI machine: LLM requests (half streamed), and /health probes among them. */
const FLOOD_REQUESTS = 1500;
const FLOOD_HEALTH_PROBES = 300;

describe(`a flood of ${FLOOD_REQUESTS} concurrent requests and ${FLOOD_HEALTH_PROBES} /health probes (two workers, one slot and one queue place each)`, () => {
  let service: ServiceProcess;
  let outcomes: FloodOutcome[];

  beforeAll(async () => {
    service = await startFromSource({ ...TINY_WORKER, MOCKER_DECODE_MS_PER_TOKEN: '20' });
    const requests: FloodRequest[] = [];
    const probeEvery = Math.round(FLOOD_REQUESTS / FLOOD_HEALTH_PROBES);
    for (let i = 0; i < FLOOD_REQUESTS; i++) {
      requests.push({
        method: 'POST',
        path: CHAT,
        id: `flood-${i}`,
        body: body('chat', `flood ${i}`, { stream: i % 2 === 0, max_tokens: 50 }),
      });
      if (i % probeEvery === 0) requests.push({ method: 'GET', path: '/health', id: `probe-${i}` });
    }
    outcomes = await flood(service.url, requests);
  }, 120_000);

  afterAll(() => service?.stop());

  const llm = () => outcomes.filter((outcome) => outcome.request.path !== '/health');
  const refused = () => llm().filter((outcome) => outcome.status === 429);

  it('every request is served whole, or refused with 429 + Retry-After before any SSE byte; never 200-then-error', () => {
    for (const outcome of llm()) {
      if (outcome.status === 429) {
        expect(outcome.headers['retry-after']).toBe('1');
        expect(JSON.parse(outcome.body)).toMatchObject({ error: { type: 'requests', code: 'rate_limit_exceeded' } });
      } else {
        expect(outcome.status, outcome.body).toBe(200);
        expect(outcome.body).not.toContain('"error"');
      }
    }
    expect(
      outcomes.filter((outcome) => outcome.request.path === '/health').every((outcome) => outcome.status === 200),
    ).toBe(true);
    expect(refused().length).toBeGreaterThan(FLOOD_REQUESTS / 2);
  });

  it("a refusal never waits behind admitted work: refusals' p99 stays about that of /health in the same flood", () => {
    const health = outcomes.filter((outcome) => outcome.request.path === '/health').map((outcome) => outcome.ms);
    const refusals = refused().map((outcome) => outcome.ms);
    const served = llm()
      .filter((outcome) => outcome.status === 200)
      .map((outcome) => outcome.ms);
    const figures = (values: number[]) =>
      `p50 ${percentile(values, 50).toFixed(0)} ms, p99 ${percentile(values, 99).toFixed(0)} ms (${values.length})`;
    console.info(`flood: /health ${figures(health)}; refusals ${figures(refusals)}; served ${figures(served)}`);
    // A generous bound (twice, plus slack for a busy CI machine): the two share one event loop, so the
    // ratio is about 1 when a refusal waits for nothing else.
    expect(percentile(refusals, 99)).toBeLessThanOrEqual(2 * percentile(health, 99) + 250);
  });

  it('each refusal is one warn line with its id, and no line is at error level or carries a stack', async () => {
    const ids = new Set(refused().map((outcome) => outcome.request.id));
    const lines = await waitFor(() => {
      const all = service.logs.lines;
      return all.filter((line) => line.level === WARN).length >= ids.size ? all : undefined;
    });
    const warned = lines.filter((line) => line.level === WARN).map((line) => line.requestId);
    expect(warned.length).toBe(ids.size);
    expect(new Set(warned)).toEqual(ids);
    expect(errorLines(lines)).toEqual([]);
    expect(service.logs.raw.some((raw) => raw.includes('"stack"'))).toBe(false);
  });
});
