import { afterAll, beforeAll, expect, it } from 'vitest';
import { Tokenizer } from '../src/llm/processor/tokenizer.js';
import { MockText } from '../src/llm/worker/mocker/mock-text.js';
import type { LogLine } from './support/log-capture.js';
import { describeWithNats, freePort, startNatsServer } from './support/nats-server.js';
import type { NatsServer } from './support/nats-server.js';
import { UUID_V4 } from './support/raw-http.js';
import { isServingLine, spawnFromSource, untilServing } from './support/service-process.js';
import type { ComponentProcess, SpawnedService } from './support/service-process.js';
import { waitFor } from './support/wait-for.js';

/**
 * Distributed mode (docs/pipeline.md): every component as its own OS process, talking over a real nats-server
 * (THREADLINE_TRANSPORT=nats), with the request id, the token stream and cancellation crossing the wire.
 *
 * Process layouts (each process runs src/main.ts from the sources, LOG_LEVEL=debug):
 * - "one process per component": frontend | processor | router | worker | worker (THREADLINE_WORKERS=1
 *   each): ids on every process that touched a request and only there, 200 concurrent streams, cancellation.
 * - "NATS restarted under traffic": frontend | processor,router | worker.
 * - "a worker stopped mid-stream": frontend | processor,router | worker | worker: SIGTERM drains one worker,
 *   then SIGKILL on the other.
 * - "NATS down at start": a lone worker process, before and after nats-server appears.
 * Destructive tests get their own processes; everything started here is stopped in afterAll, whatever happened.
 *
 * Run: `npx vitest run test/distributed.e2e-spec.ts`. Needs `nats-server` (PATH, /usr/sbin, or NATS_SERVER_BIN);
 * without it the suites are skipped with the reason, or fail when THREADLINE_REQUIRE_NATS=1 (as in CI).
 */

const MODEL = 'threadline-mocker';
const CHAT = '/v1/chat/completions';
const COMPLETIONS = '/v1/completions';
/** How long a process may take to be ready (several start at once on a small machine). */
const READY_MS = 60_000;
/** "Never a hang": the longest a client may wait for an answer when something broke. */
const NO_HANG_MS = 15_000;
/** "Fail fast": the longest a request may take to get its 503 while NATS is down. */
const FAIL_FAST_MS = 5_000;
/** How long the service has to recover by itself once nats-server is back. */
const RECOVERY_MS = 15_000;

type Api = 'chat' | 'completion';

// ---------------------------------------------------------------------------------------------------
// Processes: every one started in this file is tracked, so that afterAll can stop it even when a start fails.
// ---------------------------------------------------------------------------------------------------

const allServices = new Set<SpawnedService>();
const allNats = new Set<NatsServer>();

async function stopEverything(services: Iterable<SpawnedService>, nats: Iterable<NatsServer>): Promise<void> {
  // Service processes first (they may try to drain over NATS), then the servers.
  await Promise.all([...services].map((service) => service.stop(2000)));
  await Promise.all([...nats].map((server) => server.stop()));
}

afterAll(() => stopEverything(allServices, allNats), 30_000);

async function nats(options: { port?: number } = {}): Promise<NatsServer> {
  const server = await startNatsServer(options);
  allNats.add(server);
  return server;
}

interface ProcessSpec {
  /** A name for messages and lookups, e.g. `worker-a`. */
  name: string;
  /** THREADLINE_COMPONENTS */
  components: string;
  /** More environment for this process (THREADLINE_WORKERS...). */
  env?: NodeJS.ProcessEnv;
}

interface Cluster {
  nats: NatsServer;
  procs: Map<string, ComponentProcess>;
  get(name: string): ComponentProcess;
  /** The frontend's base URL. */
  url: string;
  stop(): Promise<void>;
}

function natsEnv(server: { url: string }, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { THREADLINE_TRANSPORT: 'nats', NATS_URL: server.url, LOG_LEVEL: 'debug', THREADLINE_SHUTDOWN_GRACE_MS: '2000', ...extra };
}

/** Spawns the processes, tracked from the first moment, all at once; waits until every one serves. */
async function startCluster(server: NatsServer, specs: ProcessSpec[], common: NodeJS.ProcessEnv = {}): Promise<Cluster> {
  const spawned = specs.map((spec) => {
    const env = natsEnv(server, { ...common, THREADLINE_COMPONENTS: spec.components, ...spec.env });
    const service = spawnFromSource(spec.name, env);
    allServices.add(service);
    return { spec, env, service };
  });
  const results = await Promise.allSettled(spawned.map(({ service, env }) => untilServing(service, env, READY_MS)));
  const failures = results.flatMap((result) => (result.status === 'rejected' ? [String(result.reason)] : []));
  if (failures.length > 0) {
    // Not left running (and eating the CPU) until the file ends.
    await Promise.all(spawned.map(({ service }) => service.stop(1000)));
    throw new Error(`the cluster did not start:\n${failures.join('\n\n')}`);
  }
  const procs = new Map(spawned.map(({ spec, service }) => [spec.name, service as ComponentProcess]));
  const frontend = [...procs.values()].find((proc) => proc.url !== undefined);
  if (frontend === undefined) throw new Error('no process of the cluster runs the frontend');
  const get = (name: string) => {
    const proc = procs.get(name);
    if (proc === undefined) throw new Error(`no process named ${name}`);
    return proc;
  };
  return { nats: server, procs, get, url: frontend.url!, stop: () => stopEverything(procs.values(), [server]) };
}

interface BurstOutcome {
  id: string;
  status: number | 'no answer';
  text: string;
}

/** `count` concurrent non-streamed chat requests with distinct prompts and ids `<prefix>-<i>`. */
function burst(url: string, prefix: string, count: number): Promise<BurstOutcome[]> {
  return Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const id = `${prefix}-${i}`;
      try {
        const res = await post(url, CHAT, id, chatBody(`warm up number ${i} of ${prefix}`, { max_tokens: 2 }), AbortSignal.timeout(NO_HANG_MS));
        return { id, status: res.status, text: await res.text() };
      } catch (error) {
        return { id, status: 'no answer' as const, text: String(error) };
      }
    }),
  );
}

/**
 * Readiness is each process's `serving` line. The tests proper start once the cluster as a whole has
 * settled: every request of a burst succeeded, and each of `workers` (process names) served one of them.
 * (Whether requests sent the moment every process is ready succeed is a test of its own.)
 */
async function warmUp(cluster: Cluster, workers: string[] = [], timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const servedOne = () =>
    workers.every((name) => linesOf(cluster.get(name)).some((line) => line.msg === 'handling worker.generate' && String(line.requestId).startsWith('warmup-')));
  let last: BurstOutcome[] = [];
  for (let round = 0; Date.now() < deadline; round++) {
    last = await burst(cluster.url, `warmup-${round}`, 8);
    // The worker logs its line when the call starts; the pipe to this process may lag a little.
    if (last.every((outcome) => outcome.status === 200) && (await waitFor(() => (servedOne() ? true : undefined), 500).catch(() => false))) return;
    await sleep(200);
  }
  const failed = last.filter((outcome) => outcome.status !== 200).map((outcome) => `${outcome.id}: ${outcome.status} ${outcome.text.slice(0, 300)}`);
  throw new Error(`the cluster did not settle within ${timeoutMs} ms (every request of a burst answered, each of ${workers.join(', ') || 'no worker'} serving one):\n${failed.join('\n')}`);
}

// ---------------------------------------------------------------------------------------------------
// Logs
// ---------------------------------------------------------------------------------------------------

const parsedCache = new WeakMap<SpawnedService, LogLine[]>();

/** Every JSON line the process wrote so far (a line that is not JSON is skipped, not a crash). */
function linesOf(proc: SpawnedService): LogLine[] {
  const parsed = parsedCache.get(proc) ?? [];
  for (let index = parsed.length; index < proc.logs.raw.length; index++) {
    try {
      parsed.push(JSON.parse(proc.logs.raw[index]!) as LogLine);
    } catch {
      parsed.push({ level: 0, msg: `(not JSON) ${proc.logs.raw[index]}` });
    }
  }
  parsedCache.set(proc, parsed);
  return parsed;
}

function forRequest(proc: SpawnedService, id: string): LogLine[] {
  return linesOf(proc).filter((line) => line.requestId === id);
}

function handling(proc: SpawnedService, id: string, what: string): LogLine[] {
  return forRequest(proc, id).filter((line) => line.msg === `handling ${what}`);
}

/** The worker's last line about a generation: `generation finished: N tokens` or `generation stopped …`. */
function generationEnd(proc: SpawnedService, id: string): LogLine | undefined {
  return forRequest(proc, id).find((line) => typeof line.msg === 'string' && /^generation (finished|stopped)/.test(line.msg));
}

/** Every line of `proc` for the request names `component` (lines written before the context existed name none). */
function expectOwnComponent(proc: SpawnedService, id: string, component: string): void {
  const foreign = forRequest(proc, id).filter((line) => line.component !== undefined && line.component !== component);
  expect(foreign, `${proc.name}: lines for ${id} naming another component`).toEqual([]);
}

/** In one process, every line about a call (callId) carries one request id. */
function expectOneRequestPerCall(proc: SpawnedService): number {
  const requestByCall = new Map<string, unknown>();
  const mixed: string[] = [];
  for (const line of linesOf(proc)) {
    if (typeof line.callId !== 'string') continue;
    const known = requestByCall.get(line.callId);
    if (!requestByCall.has(line.callId)) requestByCall.set(line.callId, line.requestId);
    else if (known !== line.requestId) mixed.push(`${line.callId}: ${String(known)} and ${String(line.requestId)}`);
  }
  expect(mixed, `${proc.name}: calls whose lines carry two request ids`).toEqual([]);
  return requestByCall.size;
}

// ---------------------------------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------------------------------

function chatBody(content: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { model: MODEL, messages: [{ role: 'user', content }], max_tokens: 8, ...extra };
}

function completionBody(prompt: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { model: MODEL, prompt, max_tokens: 8, ...extra };
}

function post(url: string, path: string, id: string | undefined, body: Record<string, unknown>, signal?: AbortSignal): Promise<Response> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (id !== undefined) headers['x-request-id'] = id;
  return fetch(`${url}${path}`, { method: 'POST', headers, body: JSON.stringify(body), signal });
}

/** The `data:` payloads of an SSE body, in order: parsed JSON, or the string `[DONE]`. */
function sseData(text: string): unknown[] {
  return text
    .split('\n')
    .filter((line) => line.startsWith('data: '))
    .map((line) => line.slice('data: '.length))
    .map((payload) => (payload === '[DONE]' ? payload : (JSON.parse(payload) as unknown)));
}

interface ErrorEvent {
  error: { message: string; type: string; code: string | null };
}

function errorEvents(text: string): ErrorEvent[] {
  return sseData(text).filter((event): event is ErrorEvent => typeof event === 'object' && event !== null && 'error' in event);
}

/** Reads an SSE response body incrementally, with deadlines. */
class SseReader {
  text = '';
  done = false;
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private readonly decoder = new TextDecoder();
  /** A read in progress, kept across waits so that no chunk is lost to an abandoned read. */
  private pending: Promise<ReadableStreamReadResult<Uint8Array>> | undefined;

  constructor(res: Response) {
    this.reader = res.body!.getReader();
  }

  get dataCount(): number {
    return (this.text.match(/^data: /gm) ?? []).length;
  }

  /**
   * Reads until `predicate` holds or the stream ends; fails after `timeoutMs`. The predicate is checked
   * after each chunk and at least every 100 ms.
   */
  async until(predicate: (reader: SseReader) => boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.done && !predicate(this)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`stream: no ${what} within ${timeoutMs} ms; received so far:\n${this.text.slice(-2000)}`);
      let timer: NodeJS.Timeout | undefined;
      const tick = new Promise<'tick'>((resolve) => (timer = setTimeout(() => resolve('tick'), Math.min(left, 100))));
      this.pending ??= this.reader.read();
      const next = await Promise.race([this.pending, tick]);
      clearTimeout(timer);
      if (next === 'tick') continue;
      this.pending = undefined;
      if (next.done) this.done = true;
      else this.text += this.decoder.decode(next.value, { stream: true });
    }
  }

  /** Reads to the end of the stream; fails after `timeoutMs`. */
  async toEnd(timeoutMs: number): Promise<string> {
    await this.until(() => false, timeoutMs, 'end of stream');
    return this.text;
  }

  cancel(): Promise<void> {
    this.pending?.catch(() => undefined);
    return this.reader.cancel().catch(() => undefined);
  }
}

/** `promise`, or a failure naming `what` after `ms`. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A seed for which the mocker's answer to `prompt` (a completion) is at least `minTokens` long (its natural length is 16-159). */
function longSeed(prompt: string, minTokens: number): { seed: number; length: number } {
  const promptIds = new Tokenizer().encode(prompt);
  for (let seed = 0; seed < 100_000; seed++) {
    const length = new MockText(promptIds, seed).length;
    if (length >= minTokens) return { seed, length };
  }
  throw new Error(`no seed gives ${minTokens} tokens`);
}

// ---------------------------------------------------------------------------------------------------
// One process per component
// ---------------------------------------------------------------------------------------------------

describeWithNats('distributed over NATS: one process per component (frontend | processor | router | worker | worker)', () => {
  let cluster: Cluster;
  const workerNames = ['worker-a', 'worker-b'];
  const single = ['frontend', 'processor', 'router'];
  let firstBurst: BurstOutcome[] = [];

  beforeAll(async () => {
    const server = await nats();
    cluster = await startCluster(
      server,
      [
        { name: 'frontend', components: 'frontend' },
        { name: 'processor', components: 'processor' },
        { name: 'router', components: 'router' },
        { name: 'worker-a', components: 'worker', env: { THREADLINE_WORKERS: '1' } },
        { name: 'worker-b', components: 'worker', env: { THREADLINE_WORKERS: '1' } },
      ],
      { MOCKER_DECODE_MS_PER_TOKEN: '5' },
    );
    // Sent the moment every process is ready, judged by the first test.
    firstBurst = await burst(cluster.url, 'first', 8);
    await warmUp(cluster, workerNames);
  }, 120_000);
  afterAll(() => cluster?.stop(), 30_000);

  const workers = () => workerNames.map((name) => cluster.get(name));

  it('requests sent as soon as every process logged its serving line succeed', () => {
    const failed = firstBurst.filter((outcome) => outcome.status !== 200);
    expect(failed.map((outcome) => `${outcome.id}: ${outcome.status} ${outcome.text.slice(0, 300)}`)).toEqual([]);
  });

  it('every process announces its instances; ids are unique across processes; only the frontend listens on HTTP', () => {
    expect(cluster.get('frontend').instanceIds).toEqual([]);
    expect(linesOf(cluster.get('frontend')).some((line) => isServingLine(line) && line.msg === 'serving no components')).toBe(true);
    for (const name of ['processor', 'router']) {
      expect(cluster.get(name).instanceIds).toHaveLength(1);
      expect(cluster.get(name).instanceIds[0]!.startsWith(`${name}-`)).toBe(true);
    }
    for (const worker of workers()) {
      expect(worker.instanceIds).toHaveLength(1);
      expect(worker.instanceIds[0]!.startsWith('worker-')).toBe(true);
    }
    const all = [...cluster.procs.values()].flatMap((proc) => proc.instanceIds);
    expect(new Set(all).size).toBe(all.length);
    for (const proc of cluster.procs.values()) {
      expect(linesOf(proc).filter(isServingLine), `${proc.name}: one serving line`).toHaveLength(1);
      if (proc.name !== 'frontend') expect(proc.logs.contains('Server listening at'), `${proc.name} listens on HTTP`).toBe(false);
    }
  });

  const cases: Array<{ api: Api; stream: boolean; id: string | undefined }> = [
    { api: 'chat', stream: false, id: 'dist-chat-unary-1' },
    { api: 'chat', stream: true, id: 'dist-chat-stream-1' },
    { api: 'completion', stream: false, id: 'dist-cmpl-unary-1' },
    { api: 'completion', stream: true, id: 'dist-cmpl-stream-1' },
    { api: 'chat', stream: true, id: undefined },
  ];

  it('passes the W3C traceparent of the request to every process, with the id', async () => {
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const res = await fetch(`${cluster.url}${COMPLETIONS}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'dist-trace-1', traceparent },
      body: JSON.stringify(completionBody('traced over the wire', {})),
      signal: AbortSignal.timeout(NO_HANG_MS),
    });
    expect(res.status).toBe(200);
    for (const [name, endpoint] of [['processor', 'processor.generate'], ['router', 'router.route']] as const) {
      expect(handling(cluster.get(name), 'dist-trace-1', endpoint).map((line) => line.traceparent)).toEqual([traceparent]);
    }
    const served = await waitFor(() => workers().find((worker) => handling(worker, 'dist-trace-1', 'worker.generate').length > 0), 10_000);
    expect(handling(served, 'dist-trace-1', 'worker.generate').map((line) => line.traceparent)).toEqual([traceparent]);
  });

  it.each(cases)('$api, stream $stream, id $id: answered with the id, which is on the lines of every process that touched it and only there', async ({ api, stream, id: sent }) => {
    const path = api === 'chat' ? CHAT : COMPLETIONS;
    const body = api === 'chat' ? chatBody('hello over the wire', { stream }) : completionBody('hello over the wire', { stream });
    const res = await post(cluster.url, path, sent, body, AbortSignal.timeout(NO_HANG_MS));
    expect(res.status).toBe(200);
    const id = res.headers.get('x-request-id')!;
    if (sent !== undefined) expect(id).toBe(sent);
    else expect(id).toMatch(UUID_V4);
    const bodyId = `${api === 'chat' ? 'chatcmpl' : 'cmpl'}-${id}`;
    if (stream) {
      const text = await res.text();
      expect(text.trim().endsWith('data: [DONE]')).toBe(true);
      expect(errorEvents(text)).toEqual([]);
      const chunkIds = sseData(text).flatMap((event) => (typeof event === 'object' ? [(event as { id: string }).id] : []));
      expect(chunkIds.length).toBeGreaterThan(0);
      expect(new Set(chunkIds)).toEqual(new Set([bodyId]));
    } else {
      const json = (await res.json()) as { id: string; choices: unknown[] };
      expect(json.id).toBe(bodyId);
      expect(json.choices).toHaveLength(1);
    }

    // The worker that served it, once it logged the end of the generation.
    const served = await waitFor(() => workers().find((worker) => generationEnd(worker, id) !== undefined), 10_000);
    const other = workers().find((worker) => worker !== served)!;
    expect(generationEnd(served, id)!.msg).toMatch(/^generation finished: \d+ tokens$/);

    const frontend = cluster.get('frontend');
    await waitFor(() => (forRequest(frontend, id).some((line) => line.msg === 'request completed') ? true : undefined), 5000);
    expect(forRequest(frontend, id).some((line) => line.component === 'frontend' && line.msg === `serving ${api === 'chat' ? 'chat/completions' : 'completions'}`)).toBe(true);
    expectOwnComponent(frontend, id, 'frontend');

    for (const [name, endpoint] of [['processor', 'processor.generate'], ['router', 'router.route']] as const) {
      const proc = cluster.get(name);
      const lines = handling(proc, id, endpoint);
      expect(lines, `${name}: one "handling ${endpoint}" line for ${id}`).toHaveLength(1);
      expect(lines[0]).toMatchObject({ requestId: id, component: name });
      expect(typeof lines[0]!.callId).toBe('string');
      expect(proc.instanceIds).toContain(lines[0]!.instanceId);
      expectOwnComponent(proc, id, name);
    }
    const generate = handling(served, id, 'worker.generate');
    expect(generate).toHaveLength(1);
    expect(generate[0]).toMatchObject({ requestId: id, component: 'worker' });
    expect(served.instanceIds).toContain(generate[0]!.instanceId);
    expectOwnComponent(served, id, 'worker');
    // The router said where it went, by the served process's instance id.
    expect(forRequest(cluster.get('router'), id).some((line) => line.msg === `routed to ${served.instanceIds[0]}`)).toBe(true);

    // And nowhere else: the other worker process never heard of it.
    expect(forRequest(other, id)).toEqual([]);
    expect(other.logs.contains(id)).toBe(false);
  }, 30_000);

  it('200 concurrent streamed requests with distinct ids: zero cross-talk, in any process', async () => {
    const ids = Array.from({ length: 200 }, (_, i) => `dist-xtalk-${i}`);
    const results = await Promise.all(
      ids.map(async (id, i) => {
        const res = await post(cluster.url, CHAT, id, chatBody(`prompt number ${i}`, { stream: true, max_tokens: 6 }), AbortSignal.timeout(25_000));
        return { id, status: res.status, header: res.headers.get('x-request-id'), text: await res.text() };
      }),
    );
    for (const { id, status, header, text } of results) {
      expect(status, text).toBe(200);
      expect(header).toBe(id);
      expect(text.trim().endsWith('data: [DONE]'), `${id}: ${text.slice(-300)}`).toBe(true);
      const chunkIds = [...text.matchAll(/"id":"(chatcmpl-[^"]+)"/g)].map((m) => m[1]);
      expect(chunkIds.length).toBeGreaterThan(0);
      expect(new Set(chunkIds)).toEqual(new Set([`chatcmpl-${id}`]));
    }

    // Every generation has ended (and been logged) before the logs are judged.
    await waitFor(() => (ids.every((id) => workers().some((worker) => generationEnd(worker, id) !== undefined)) ? true : undefined), 15_000);
    for (const proc of cluster.procs.values()) expectOneRequestPerCall(proc);
    for (const id of ids) {
      expect(forRequest(cluster.get('frontend'), id).length, `frontend lines for ${id}`).toBeGreaterThan(0);
      expect(handling(cluster.get('processor'), id, 'processor.generate'), id).toHaveLength(1);
      expect(handling(cluster.get('router'), id, 'router.route'), id).toHaveLength(1);
      const perWorker = workers().map((worker) => handling(worker, id, 'worker.generate').length);
      expect(perWorker.sort(), `${id}: worker.generate calls per worker process`).toEqual([0, 1]);
      const unserved = workers().find((worker) => handling(worker, id, 'worker.generate').length === 0)!;
      expect(forRequest(unserved, id), `${unserved.name} has lines for ${id}`).toEqual([]);
    }
    for (const name of single) for (const id of ids.slice(0, 20)) expectOwnComponent(cluster.get(name), id, name);
  }, 60_000);

  it('a client that disconnects mid-stream: the worker process stops generating and logs it with the id', async () => {
    const id = 'dist-gone-1';
    const prompt = 'a long story told over the wire';
    const { seed, length } = longSeed(prompt, 150);
    const abort = new AbortController();
    const res = await post(cluster.url, COMPLETIONS, id, completionBody(prompt, { max_tokens: 4000, stream: true, seed }), abort.signal);
    expect(res.status).toBe(200);
    expect(res.headers.get('x-request-id')).toBe(id);
    const reader = new SseReader(res);
    await reader.until((r) => r.dataCount >= 5, 10_000, '5 data events');
    abort.abort();
    await reader.cancel();

    const stopLine = await waitFor(
      () => workers().flatMap((worker) => forRequest(worker, id)).find((line) => String(line.msg).startsWith('generation stopped')),
      10_000,
    );
    expect(stopLine).toMatchObject({ requestId: id, component: 'worker', context: 'MockerEngine' });
    expect(stopLine.msg).toBe(`generation stopped after ${stopLine.produced as number} of ${length} tokens: request cancelled`);
    expect(stopLine.produced as number).toBeGreaterThanOrEqual(5);
    expect(stopLine.produced as number).toBeLessThan(length);
    for (const worker of workers()) expect(forRequest(worker, id).some((line) => String(line.msg).startsWith('generation finished'))).toBe(false);
  }, 30_000);
});

// ---------------------------------------------------------------------------------------------------
// NATS restarted under traffic
// ---------------------------------------------------------------------------------------------------

describeWithNats('distributed over NATS: nats-server restarted under traffic (frontend | processor,router | worker)', () => {
  let cluster: Cluster;

  /** What became of each request of the background traffic (two clients, one request after another). */
  interface Outcome {
    id: string;
    status: number | 'hung' | 'network error';
    message: string;
    ms: number;
  }
  const traffic: Outcome[] = [];
  /** A long stream that was in flight when nats-server went away: how it ended. */
  let inFlight: { id: string; text: string; error?: string } | undefined;

  beforeAll(async () => {
    const server = await nats();
    cluster = await startCluster(
      server,
      [
        { name: 'frontend', components: 'frontend' },
        { name: 'processor-router', components: 'processor,router' },
        { name: 'worker', components: 'worker', env: { THREADLINE_WORKERS: '1' } },
      ],
      // 20 ms a token, so that a long generation spans the outage.
      { MOCKER_DECODE_MS_PER_TOKEN: '20' },
    );
    await warmUp(cluster, ['worker']);
  }, 120_000);
  afterAll(() => cluster?.stop(), 30_000);

  it('during the outage requests fail fast with 503 naming the id; after it, the service recovers by itself', async () => {
    // Background traffic from before the outage to after the recovery (judged by the next test).
    let flowing = true;
    let next = 0;
    const loop = async () => {
      while (flowing) {
        const id = `traffic-${next++}`;
        const started = Date.now();
        try {
          const res = await post(cluster.url, CHAT, id, chatBody('steady traffic', { max_tokens: 4 }), AbortSignal.timeout(NO_HANG_MS));
          const text = await res.text();
          traffic.push({ id, status: res.status, message: text, ms: Date.now() - started });
        } catch (error) {
          const hung = error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError');
          traffic.push({ id, status: hung ? 'hung' : 'network error', message: String(error), ms: Date.now() - started });
        }
        await sleep(20);
      }
    };
    const loops = [loop(), loop()];
    let inFlightEnded: Promise<void> = Promise.resolve();
    try {
      await waitFor(() => (traffic.filter((o) => o.status === 200).length >= 3 ? true : undefined), 10_000);
      const prompt = 'a story that outlasts the message bus';
      const { seed } = longSeed(prompt, 120);
      const streamId = 'across-outage-1';
      const streamed = await post(cluster.url, COMPLETIONS, streamId, completionBody(prompt, { max_tokens: 1000, stream: true, seed }), AbortSignal.timeout(60_000));
      expect(streamed.status).toBe(200);
      const reader = new SseReader(streamed);
      await reader.until((r) => r.dataCount >= 3, 10_000, '3 data events');
      // Read on in the background, through the outage and the restart, for at most NO_HANG_MS after the restart.
      let restartedAt: number | undefined;
      inFlightEnded = (async () => {
        try {
          await reader.until(() => restartedAt !== undefined && Date.now() - restartedAt > NO_HANG_MS, 60_000, 'end of stream');
          inFlight = reader.done ? { id: streamId, text: reader.text } : { id: streamId, text: reader.text, error: `still open ${NO_HANG_MS} ms after the restart` };
        } catch (error) {
          inFlight = { id: streamId, text: reader.text, error: String(error) };
        } finally {
          if (!reader.done) await reader.cancel();
        }
      })();

      await cluster.nats.stop();
      const probes: Array<{ api: Api; stream: boolean }> = [
        { api: 'chat', stream: false },
        { api: 'chat', stream: true },
        { api: 'completion', stream: false },
        { api: 'completion', stream: true },
      ];
      for (const [index, { api, stream }] of probes.entries()) {
        const id = `outage-${index}`;
        const started = Date.now();
        const body = api === 'chat' ? chatBody('during the outage', { stream }) : completionBody('during the outage', { stream });
        const res = await post(cluster.url, api === 'chat' ? CHAT : COMPLETIONS, id, body, AbortSignal.timeout(NO_HANG_MS));
        const text = await res.text();
        const elapsed = Date.now() - started;
        expect(res.status, `${id}: ${text}`).toBe(503);
        expect(res.headers.get('x-request-id')).toBe(id);
        const error = (JSON.parse(text) as ErrorEvent).error;
        expect(error.message).toContain(id);
        expect(elapsed, `${id} took ${elapsed} ms to fail`).toBeLessThan(FAIL_FAST_MS);
      }

      await cluster.nats.restart();
      const restarted = Date.now();
      restartedAt = restarted;
      let recovered: string | undefined;
      for (let attempt = 0; recovered === undefined; attempt++) {
        if (Date.now() - restarted > RECOVERY_MS) throw new Error(`no successful request within ${RECOVERY_MS} ms of nats-server's restart`);
        const id = `recover-${attempt}`;
        const res = await post(cluster.url, CHAT, id, chatBody('after the outage'), AbortSignal.timeout(NO_HANG_MS)).catch(() => undefined);
        await res?.text().catch(() => undefined);
        if (res?.status === 200) recovered = id;
        else await sleep(200);
      }

      // Recovered for real: streams too, through every process.
      for (const [index, api] of (['chat', 'completion'] as const).entries()) {
        const id = `after-${index}`;
        const body = api === 'chat' ? chatBody('after the outage', { stream: true }) : completionBody('after the outage', { stream: true });
        const res = await post(cluster.url, api === 'chat' ? CHAT : COMPLETIONS, id, body, AbortSignal.timeout(NO_HANG_MS));
        expect(res.status).toBe(200);
        const text = await res.text();
        expect(text.trim().endsWith('data: [DONE]'), text).toBe(true);
        await waitFor(() => (generationEnd(cluster.get('worker'), id) !== undefined ? true : undefined), 5000);
        expect(handling(cluster.get('processor-router'), id, 'processor.generate')).toHaveLength(1);
        expect(handling(cluster.get('processor-router'), id, 'router.route')).toHaveLength(1);
        expect(handling(cluster.get('worker'), id, 'worker.generate')).toHaveLength(1);
      }
    } finally {
      flowing = false;
      await Promise.all([...loops, inFlightEnded]);
    }
  }, 60_000);

  it('a stream in flight when nats-server went away ended (completed, or an error event naming its id), and did not hang', () => {
    expect(inFlight, 'the stream of the previous test').toBeDefined();
    const { id, text, error } = inFlight!;
    expect(error, text.slice(-500)).toBeUndefined();
    const errors = errorEvents(text);
    if (errors.length > 0) {
      expect(errors).toHaveLength(1);
      expect(errors[0]!.error.message).toContain(id);
      expect(text.includes('data: [DONE]')).toBe(false);
    } else {
      expect(text.trim().endsWith('data: [DONE]'), text.slice(-500)).toBe(true);
    }
  });

  it('no request of the traffic hung across the outage: each got an answer, a failure being a 5xx naming its id', () => {
    expect(traffic.length, 'the traffic of the previous test').toBeGreaterThan(0);
    expect(traffic.filter((o) => o.status === 'hung' || o.status === 'network error')).toEqual([]);
    for (const failure of traffic.filter((o) => o.status !== 200)) {
      expect(failure.status as number, failure.message).toBeGreaterThanOrEqual(500);
      expect(failure.message).toContain(failure.id);
    }
    // The traffic went on after the recovery.
    const lastSuccess = traffic.map((o) => o.status).lastIndexOf(200);
    expect(lastSuccess).toBeGreaterThan(traffic.findIndex((o) => o.status !== 200));
  });
});

// ---------------------------------------------------------------------------------------------------
// A worker process stopped mid-stream: SIGTERM drains it, SIGKILL is reported
// ---------------------------------------------------------------------------------------------------

describeWithNats('distributed over NATS: a worker process stopped mid-stream (frontend | processor,router | worker | worker)', () => {
  let cluster: Cluster;
  const workerNames = ['worker-a', 'worker-b'];
  const prompt = 'a story long enough to stop in the middle of';
  const { seed, length } = longSeed(prompt, 120);

  beforeAll(async () => {
    const server = await nats();
    // 20 ms a token: a generation of 120+ tokens lasts 2.4 s or more.
    const worker = { THREADLINE_WORKERS: '1', THREADLINE_SHUTDOWN_GRACE_MS: '10000' };
    cluster = await startCluster(
      server,
      [
        { name: 'frontend', components: 'frontend' },
        { name: 'processor-router', components: 'processor,router' },
        { name: 'worker-a', components: 'worker', env: worker },
        { name: 'worker-b', components: 'worker', env: worker },
      ],
      { MOCKER_DECODE_MS_PER_TOKEN: '20' },
    );
    await warmUp(cluster, workerNames);
  }, 120_000);
  afterAll(() => cluster?.stop(), 30_000);

  const workers = () => workerNames.map((name) => cluster.get(name));

  /** The worker process that runs the request's generation, once it does. */
  const servingWorker = (id: string) => waitFor(() => workers().find((worker) => handling(worker, id, 'worker.generate').length > 0), 10_000);

  it('SIGTERM: the in-flight stream completes, new requests go to the other worker, the process exits 0', async () => {
    const id = 'drain-1';
    const res = await post(cluster.url, COMPLETIONS, id, completionBody(prompt, { max_tokens: 1000, stream: true, seed }), AbortSignal.timeout(30_000));
    expect(res.status).toBe(200);
    const reader = new SseReader(res);
    await reader.until((r) => r.dataCount >= 3, 10_000, '3 data events');
    const victim = await servingWorker(id);
    const other = workers().find((worker) => worker !== victim)!;

    victim.signal('SIGTERM');
    // The victim says when it drains (it has then told its peers); the router hears that over NATS.
    await victim.waitForLine((line) => String(line.msg).startsWith('draining '), 10_000);
    await sleep(200);
    for (let i = 0; i < 4; i++) {
      const newId = `after-sigterm-${i}`;
      const next = await post(cluster.url, CHAT, newId, chatBody(`new work ${i}`, { max_tokens: 4 }), AbortSignal.timeout(NO_HANG_MS));
      expect(next.status, await next.text()).toBe(200);
      await waitFor(() => (generationEnd(other, newId) ?? generationEnd(victim, newId) ? true : undefined), 5000);
      expect(handling(other, newId, 'worker.generate'), `${newId} served by ${other.name}`).toHaveLength(1);
      expect(forRequest(victim, newId), `${newId} reached the draining ${victim.name}`).toEqual([]);
    }

    const text = await reader.toEnd(20_000);
    expect(errorEvents(text)).toEqual([]);
    expect(text.trim().endsWith('data: [DONE]'), text.slice(-500)).toBe(true);
    const finishes = sseData(text).flatMap((event) => (typeof event === 'object' ? (event as { choices: Array<{ finish_reason: string | null }> }).choices : []));
    expect(finishes.filter((choice) => choice.finish_reason !== null).map((choice) => choice.finish_reason)).toEqual(['stop']);

    const exit = await within(victim.exited, NO_HANG_MS, `${victim.name} exiting after SIGTERM`);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(generationEnd(victim, id)?.msg).toBe(`generation finished: ${length} tokens`);
  }, 60_000);

  it('SIGKILL: the client gets an error naming the id (stream: an error event; non-stream: a 5xx), never a hang', async () => {
    // One worker process left, so both requests run on it (if the previous test failed early, stop the other).
    const running = workers().filter((worker) => worker.running);
    expect(running.length).toBeGreaterThan(0);
    for (const extra of running.slice(1)) await extra.stop(500);
    const target = running[0]!;

    const streamId = 'killed-stream-1';
    const unaryId = 'killed-unary-1';
    const streamed = await post(cluster.url, COMPLETIONS, streamId, completionBody(prompt, { max_tokens: 1000, stream: true, seed }), AbortSignal.timeout(30_000));
    expect(streamed.status).toBe(200);
    const unary = post(cluster.url, COMPLETIONS, unaryId, completionBody(prompt, { max_tokens: 1000, seed }), AbortSignal.timeout(30_000));
    unary.catch(() => undefined); // awaited below: this only keeps an early failure from counting as unhandled
    const reader = new SseReader(streamed);
    await reader.until((r) => r.dataCount >= 3, 10_000, '3 data events');
    await waitFor(() => (handling(target, unaryId, 'worker.generate').length > 0 && handling(target, streamId, 'worker.generate').length > 0 ? true : undefined), 10_000);

    target.signal('SIGKILL');
    const text = await reader.toEnd(NO_HANG_MS);
    const errors = errorEvents(text);
    expect(errors, text.slice(-500)).toHaveLength(1);
    expect(errors[0]!.error.message).toContain(streamId);
    expect(text.includes('data: [DONE]')).toBe(false);

    const answer = await within(unary, NO_HANG_MS, 'the non-streamed answer');
    const body = await within(answer.text(), NO_HANG_MS, 'the non-streamed body');
    expect(answer.status, body).toBeGreaterThanOrEqual(500);
    expect(answer.headers.get('x-request-id')).toBe(unaryId);
    expect((JSON.parse(body) as ErrorEvent).error.message).toContain(unaryId);

    expect(await within(target.exited, 5000, 'the killed worker exiting')).toEqual({ code: null, signal: 'SIGKILL' });
  }, 60_000);
});

// ---------------------------------------------------------------------------------------------------
// NATS down at start
// ---------------------------------------------------------------------------------------------------

describeWithNats('distributed over NATS: nats-server down at start', () => {
  const started: SpawnedService[] = [];
  const servers: NatsServer[] = [];
  afterAll(() => stopEverything(started, servers), 30_000);

  it('a worker process logs the retry naming the URL, keeps running, and serves once nats-server appears', async () => {
    const port = await freePort();
    const url = `nats://127.0.0.1:${port}`;
    const env = natsEnv({ url }, { THREADLINE_COMPONENTS: 'worker', THREADLINE_WORKERS: '1' });
    const worker = spawnFromSource('worker-early', env);
    started.push(worker);
    allServices.add(worker);

    const retry = await worker.waitForLine(
      (line) => line.level >= 50 && typeof line.msg === 'string' && line.msg.includes(url) && /retry/i.test(line.msg),
      15_000,
      `an error line naming ${url} and retrying`,
    );
    expect(retry.msg).toContain(url);
    expect(worker.running).toBe(true);
    expect(linesOf(worker).some(isServingLine)).toBe(false);

    const server = await nats({ port });
    servers.push(server);
    const ready = await untilServing(worker, env, 20_000);
    expect(ready.instanceIds).toHaveLength(1);
    expect(ready.instanceIds[0]!.startsWith('worker-')).toBe(true);
    expect(worker.running).toBe(true);
  }, 60_000);
});
