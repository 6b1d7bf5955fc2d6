/**
 * What spans, their export and the request timeline cost, in one run:
 *
 * 1. The tiny route of bench:http (`GET /ping`, servers/http-variant.ts) on Fastify, four servers each
 *    in its own process: plain Nest (`nest`, the baseline); Threadline with no span recorder, so no
 *    spans (`threadline`, the path without export); Threadline exporting its spans over OTLP
 *    (`threadline-otlp`); and plain Nest with OpenTelemetry's auto-instrumentation (`nest-otel`, see
 *    servers/otel-auto-instrumentation.ts), what a user would install instead. Server CPU per request
 *    over a fixed number of requests from autocannon, in interleaved rounds of fresh processes.
 * 2. The whole pipeline (servers/threadline-service.ts) streaming completions as bench:stream's
 *    concurrent phase sends them: with no spans (timeline and export off), with export alone (as it runs
 *    off loopback, where the timeline defaults to off), with the timeline alone (as it defaults on
 *    loopback) and with the timeline and export.
 * 3. The service's memory with the timeline's ring on, sampled every tenth of N chat requests.
 *
 * Spans go to a sink in this process that accepts `POST …/v1/traces`, counts the spans in the protobuf
 * body and drops them; each exporting server has a path of its own, so the report can say how many
 * spans per request reached it (a BatchSpanProcessor drops what its queue cannot hold).
 *
 *   npm run bench:observability               (about 35 minutes: the streamed rounds some 17, the callgrind count 12, the million requests 6)
 *   npm run bench:observability -- --quick    (about 2 minutes: 2 short rounds, 20,000 requests for memory)
 */
import autocannon from 'autocannon';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { longestAnswer, stream } from './support/completion-stream.js';
import { hasValgrind, startUnderCallgrind } from './support/callgrind-process.js';
import type { InstructionCount } from './support/callgrind-process.js';
import { pinLoadGeneratorAwayFromServers } from './support/cpu-pinning.js';
import { publishReport, spreadNote } from './support/report.js';
import { startServerProcess } from './support/server-process.js';
import type { ServerProcess } from './support/server-process.js';
import { comparison, formatSpread, goalVerdict, signed, spread, table, unpairedRatio } from './support/stats.js';
import type { Spread } from './support/stats.js';

const quick = process.argv.includes('--quick');

const HTTP_VARIANTS = ['nest', 'threadline', 'threadline-otlp', 'nest-otel'] as const;
type HttpVariant = (typeof HTTP_VARIANTS)[number];
const HTTP_ROUNDS = quick ? 2 : 7;
/**
 * The warm-up, in runs of CONNECTIONS fresh connections each. On the second set of connections a server
 * compiled some two dozen functions again (`--trace-opt`, Node 24), and nothing on the third or later:
 * measured on the second, that compiling fell into the window.
 */
const HTTP_WARM_UP_RUNS = quick ? [5_000, 2_000] : [20_000, 10_000];
const HTTP_WARM_UP = HTTP_WARM_UP_RUNS.reduce((sum, amount) => sum + amount, 0);
const HTTP_REQUESTS = quick ? 10_000 : 40_000;
/**
 * The measured requests go in slices, the servers taking turns slice by slice (as the streamed phase's
 * do): a stretch of a few seconds in which the shared machine runs slow then falls on every server.
 */
const HTTP_SLICES = quick ? 1 : 8;
const CONNECTIONS = 50;

const STREAM_ROUNDS = quick ? 2 : 10;
const STREAM_CONCURRENCY = 64;
const STREAM_MAX_TOKENS = 500;
/**
 * Batches each server gets before it is measured, so that it is measured in its steady state. Code that
 * runs once a request reaches V8's optimising compiler only after thousands of requests, and between
 * batches 160 and 180 a service compiles well over a hundred functions at once, with spans or without
 * (bench/README.md, "Steady state"): a warm-up of 100 left that burst inside every server's window.
 */
const STREAM_WARM_UP_BATCHES = quick ? 2 : 200;
/**
 * Batches each server is measured over: about 7,700 requests, so that every window holds a few of a
 * service's full collections (Mark-Compact), which come every several thousand requests. A window of
 * 24 batches held one or none, and the rounds moved with the collector more than with the spans
 * (bench/README.md, "Steady state").
 */
const STREAM_BATCHES = quick ? 2 : 120;
/**
 * The measured batches go in slices, the servers taking turns slice by slice, so that what the machine
 * does meanwhile falls on them alike: short ones, since a slow stretch of a shared machine lasts seconds
 * (bench/README.md, "Steady state").
 */
const STREAM_SLICES = quick ? 1 : 24;
/**
 * The same phase counted in instructions under callgrind: rounds, batches of warm-up, batches counted.
 * V8 still compiles a function now and then after the warm-up (one that runs once a batch, as the
 * export's, reaches its turn late), and one compilation in a window of a few batches is thousands of
 * instructions a request: eight batches spread it thinner than four did.
 */
const COUNT_ROUNDS = quick ? 1 : 3;
const COUNT_WARM_UP_BATCHES = quick ? 2 : 32;
const COUNT_BATCHES = quick ? 1 : 8;
/**
 * No spans at all (timeline and export off), and the same again in a second process: the round's
 * baseline is their mean, and their ratios to it say how far apart two identical servers read in one
 * round, the noise every ratio to "no spans" carries; spans made and dropped as they end (a recorder
 * that keeps nothing: no configuration of the service, what making them costs apart from keeping or
 * sending them); export over OTLP alone, as a service exports by default where it listens on any other
 * than a loopback address (the timeline is off there); the timeline alone (the default on a loopback
 * address: spans made and kept in the ring); the timeline and export.
 */
const STREAM_VARIANTS = ['no spans', 'no spans again', 'made', 'export', 'timeline', 'timeline + export'] as const;
type StreamVariant = (typeof STREAM_VARIANTS)[number];
/**
 * The variants counted in instructions (callgrind's counts carry their own range of fresh processes):
 * the configurations a service runs in, to keep the phase's time.
 */
const COUNTED_VARIANTS = STREAM_VARIANTS.filter((variant) => variant !== 'no spans again' && variant !== 'made');
const STREAM_LABELS: Record<StreamVariant, string> = {
  'no spans': 'no spans',
  'no spans again': 'no spans, a second process',
  made: 'spans made and dropped (neither kept nor exported)',
  export: 'export alone (the default off loopback)',
  timeline: 'timeline alone (the default on loopback)',
  'timeline + export': 'timeline + export',
};
/** Spans add at most 15 % CPU per request to the streamed pipeline: with spans ÷ no spans. */
const SPANS_GOAL = { atMost: 1.15 };

function keepsTimeline(variant: StreamVariant): boolean {
  return variant === 'timeline' || variant === 'timeline + export';
}

function exportsSpans(variant: StreamVariant): boolean {
  return variant === 'export' || variant === 'timeline + export';
}

/**
 * A streamed server's cells "÷ no spans" and its goal's verdict, from its rounds' `ratio` to no spans
 * (`undefined`: the server is the baseline itself).
 */
function versusNoSpans(variant: StreamVariant, ratio: Spread | undefined): [string, string] {
  if (ratio === undefined) return ['1.000', ''];
  // The "no spans" processes are the noise, and spans made and dropped a part of the cost: a ratio, no goal.
  const verdict =
    variant === 'no spans' || variant === 'no spans again' || variant === 'made' ? '' : goalVerdict(ratio, SPANS_GOAL);
  return [comparison(ratio, 1, (value) => value.toFixed(3)), verdict];
}
/** bench:stream's pipeline: 2 mocker workers with no prefill or decode delay, 64 sequences decoding at once. */
const PIPELINE_ENV = {
  THREADLINE_WORKERS: '2',
  MOCKER_PREFILL_US_PER_TOKEN: '0',
  MOCKER_DECODE_MS_PER_TOKEN: '0',
  MOCKER_MAX_RUNNING: '32',
  LOG_LEVEL: 'error',
  LOG_REQUESTS: 'false',
};

const MEMORY_REQUESTS = quick ? 20_000 : 1_000_000;
const MEMORY_SAMPLES = 10;
const MEMORY_MAX_TOKENS = 4;
/** The ratio of any later sample's RSS to the first sample's (taken after warm-up) that still counts as flat. */
const MEMORY_GOAL = 1.1;
/**
 * The size of each of the young generation's two semi-spaces in the memory phase's server, its minimum
 * and its maximum alike. V8 grows the young generation from a small size up to its maximum (64 MiB a
 * semi-space with Node 24 on these machines) as the allocation rate asks, at a moment that varies from
 * run to run: a step in RSS that says nothing of what the process holds. Fixed from the start, it is in
 * every reading alike. The report shows its committed size at each reading.
 */
const MEMORY_SEMI_SPACE_MIB = 64;

/** A BatchSpanProcessor sends what it holds every 5 s by default: waited for before counting a server's spans. */
const EXPORT_WAIT_MS = 6_000;
const MODEL = 'threadline-mocker';

const HTTP_SERVER = new URL('./servers/http-variant.js', import.meta.url).pathname;
const OTEL_PRELOAD = new URL('./servers/otel-auto-instrumentation.js', import.meta.url).pathname;
const SERVICE = new URL('./servers/threadline-service.js', import.meta.url).pathname;
/** Set to `true`, the service registers a span recorder that keeps nothing (servers/threadline-service.ts). */
const SPANS_DROPPED_ENV = 'BENCH_SPANS_DROPPED';

// ---------------------------------------------------------------------------------------------------
// The OTLP sink

interface Sink {
  /** The base URL (OTEL_EXPORTER_OTLP_ENDPOINT) for the exporter named `name`. */
  endpoint(name: string): string;
  /** The spans received so far from the exporter named `name`. */
  spans(name: string): number;
  close(): void;
}

async function startSink(): Promise<Sink> {
  const received = new Map<string, number>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const path = req.url ?? '';
      if (req.method !== 'POST' || !path.endsWith('/v1/traces')) {
        res.writeHead(404).end();
        return;
      }
      let body = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
      const name = path.slice(1, -'/v1/traces'.length);
      received.set(name, (received.get(name) ?? 0) + countSpans(body));
      // An empty ExportTraceServiceResponse: everything accepted.
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: (name) => `http://127.0.0.1:${port}/${name}`,
    spans: (name) => received.get(name) ?? 0,
    close: () => server.close(),
  };
}

/**
 * The spans of an OTLP ExportTraceServiceRequest, without decoding them: field 1 (resource_spans) holds
 * field 2 (scope_spans), which holds field 2 (spans), each length-delimited.
 */
function countSpans(body: Uint8Array): number {
  let spans = 0;
  for (const resourceSpans of fieldsOf(body, 1))
    for (const scopeSpans of fieldsOf(resourceSpans, 2)) spans += fieldsOf(scopeSpans, 2).length;
  return spans;
}

/** The length-delimited fields numbered `wanted` of a protobuf message. */
function fieldsOf(message: Uint8Array, wanted: number): Uint8Array[] {
  const found: Uint8Array[] = [];
  let at = 0;
  const varint = () => {
    let value = 0;
    for (let shift = 1; ; shift *= 128) {
      const byte = message[at++]!;
      value += (byte & 0x7f) * shift;
      if (byte < 0x80) return value;
    }
  };
  while (at < message.length) {
    const tag = varint();
    switch (tag % 8) {
      case 0:
        varint();
        break;
      case 1:
        at += 8;
        break;
      case 2: {
        const length = varint();
        if (Math.floor(tag / 8) === wanted) found.push(message.subarray(at, at + length));
        at += length;
        break;
      }
      case 5:
        at += 4;
        break;
      default:
        throw new Error(`not an OTLP message (wire type ${tag % 8})`);
    }
  }
  return found;
}

// ---------------------------------------------------------------------------------------------------
// 1. The tiny route

interface HttpSample {
  cpuMicrosPerRequest: number;
  spansPerRequest: number;
}

/**
 * `amount` requests of the tiny route. No req/s is taken: autocannon ends a run of a fixed amount on its
 * one-second tick, so the time it takes says little; the CPU the server spent on them is the figure.
 */
async function ping(server: ServerProcess, amount: number): Promise<void> {
  const result = await autocannon({ url: `http://127.0.0.1:${server.port}/ping`, connections: CONNECTIONS, amount });
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`${result.non2xx} non-2xx, ${result.errors} errors`);
}

function startHttpVariant(variant: HttpVariant, sink: Sink, round: number, cpu: number | undefined) {
  const exporting = variant === 'threadline-otlp' || variant === 'nest-otel';
  const env = exporting ? { OTEL_EXPORTER_OTLP_ENDPOINT: sink.endpoint(`${round}/${variant}`) } : {};
  const nodeArgs = variant === 'nest-otel' ? ['--import', OTEL_PRELOAD] : [];
  return startServerProcess(HTTP_SERVER, [variant], env, nodeArgs, cpu);
}

/**
 * Fresh processes each round, each warmed up, then measured in slices that they take in turn, in an
 * order that rotates from slice to slice; the exported spans are counted once the exporters have sent
 * what they held.
 */
async function measureTinyRoute(sink: Sink, cpu: number | undefined): Promise<Map<HttpVariant, HttpSample[]>> {
  const samples = new Map<HttpVariant, HttpSample[]>(HTTP_VARIANTS.map((variant) => [variant, []]));
  for (let round = 1; round <= HTTP_ROUNDS; round++) {
    const servers = new Map<HttpVariant, ServerProcess>();
    try {
      // Warmed in an order that rotates from round to round, as the streamed phase's servers start.
      const startOrder = rotate(HTTP_VARIANTS, round - 1);
      const started = await Promise.allSettled(
        startOrder.map((variant) => startHttpVariant(variant, sink, round, cpu)),
      );
      started.forEach((result, i) => result.status === 'fulfilled' && servers.set(startOrder[i]!, result.value));
      const failed = started.find((result) => result.status === 'rejected');
      if (failed) throw failed.reason;
      for (const server of servers.values()) for (const amount of HTTP_WARM_UP_RUNS) await ping(server, amount);
      const measured = new Map<HttpVariant, number>(HTTP_VARIANTS.map((variant) => [variant, 0]));
      for (let slice = 0; slice < HTTP_SLICES; slice++) {
        for (const variant of rotate(HTTP_VARIANTS, round + slice)) {
          const server = servers.get(variant)!;
          const cpuBefore = server.cpuMicros();
          await ping(server, HTTP_REQUESTS / HTTP_SLICES);
          measured.set(variant, measured.get(variant)! + server.cpuMicros() - cpuBefore);
        }
      }
      await sleep(EXPORT_WAIT_MS);
      for (const variant of HTTP_VARIANTS) {
        const sample = {
          cpuMicrosPerRequest: measured.get(variant)! / HTTP_REQUESTS,
          spansPerRequest: sink.spans(`${round}/${variant}`) / (HTTP_WARM_UP + HTTP_REQUESTS),
        };
        samples.get(variant)!.push(sample);
        console.error(
          `tiny route, round ${round}/${HTTP_ROUNDS} ${variant}: ${sample.cpuMicrosPerRequest.toFixed(1)} µs CPU/req, ` +
            `${sample.spansPerRequest.toFixed(2)} spans exported/req`,
        );
      }
    } finally {
      await Promise.all([...servers.values()].map((server) => server.stop()));
    }
  }
  return samples;
}

// ---------------------------------------------------------------------------------------------------
// 2. The streamed pipeline

interface StreamSample {
  cpuMicrosPerRequest: number;
  /** Of it, the main thread's: the rest is V8's helper threads (concurrent marking, compiling) and libuv's. */
  mainThreadMicrosPerRequest: number;
  spansPerRequest: number;
}

/** Whether the service serves the timeline's routes, which it does exactly when it keeps the ring. */
async function timelineOn(url: string): Promise<boolean> {
  const res = await fetch(`${url}/debug/requests?limit=1`);
  await res.arrayBuffer();
  if (res.status !== 200 && res.status !== 404) throw new Error(`GET /debug/requests: HTTP ${res.status}`);
  return res.status === 200;
}

/** One batch of the streamed phase: STREAM_CONCURRENCY completions at once, each read to its end. */
function streamBatcher(): (url: string) => Promise<unknown> {
  const requests = Array.from({ length: STREAM_CONCURRENCY }, (_, i) =>
    longestAnswer(`Tell me story number ${i} about the sea.`, STREAM_MAX_TOKENS),
  );
  return (url) => Promise.all(requests.map((request) => stream(url, 'threadline', request)));
}

/** The service's environment for `variant`, its spans exported to the sink under `sinkName`. */
function streamEnv(variant: StreamVariant, sink: Sink, sinkName: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...PIPELINE_ENV, THREADLINE_DEBUG_ROUTES: String(keepsTimeline(variant)) };
  if (exportsSpans(variant)) env.OTEL_EXPORTER_OTLP_ENDPOINT = sink.endpoint(sinkName);
  if (variant === 'made') env[SPANS_DROPPED_ENV] = 'true';
  return env;
}

/** The sink's name for what `variant` exports in round `round`: a path of its own for each server. */
function streamSinkName(round: number, variant: StreamVariant): string {
  return `${round}/stream-${STREAM_VARIANTS.indexOf(variant)}`;
}

async function measureStreaming(
  sink: Sink,
  serverCpu: number | undefined,
): Promise<Map<StreamVariant, StreamSample[]>> {
  const batch = streamBatcher();
  const samples = new Map<StreamVariant, StreamSample[]>(STREAM_VARIANTS.map((variant) => [variant, []]));
  for (let round = 1; round <= STREAM_ROUNDS; round++) {
    const servers = new Map<StreamVariant, ServerProcess>();
    try {
      // Started and warmed in an order that rotates from round to round: identical servers read apart by
      // the order they were started in (bench/README.md, "Steady state"), so no variant keeps one place.
      for (const variant of rotate(STREAM_VARIANTS, round - 1))
        servers.set(
          variant,
          await startServerProcess(
            SERVICE,
            [],
            streamEnv(variant, sink, streamSinkName(round, variant)),
            [],
            serverCpu,
          ),
        );
      const measured = new Map<StreamVariant, number>(STREAM_VARIANTS.map((variant) => [variant, 0]));
      const onMainThread = new Map<StreamVariant, number>(STREAM_VARIANTS.map((variant) => [variant, 0]));
      for (const server of servers.values())
        for (let i = 0; i < STREAM_WARM_UP_BATCHES; i++) await batch(`http://127.0.0.1:${server.port}`);
      for (let slice = 0; slice < STREAM_SLICES; slice++) {
        // Rotate which goes first, so none always gets the cooler machine.
        const turn = round + slice;
        const order = STREAM_VARIANTS.map((_, i) => STREAM_VARIANTS[(i + turn) % STREAM_VARIANTS.length]!);
        for (const variant of order) {
          const server = servers.get(variant)!;
          const cpuBefore = server.cpuMicros();
          const mainBefore = server.mainThreadCpuMicros();
          for (let i = 0; i < STREAM_BATCHES / STREAM_SLICES; i++) await batch(`http://127.0.0.1:${server.port}`);
          measured.set(variant, measured.get(variant)! + server.cpuMicros() - cpuBefore);
          onMainThread.set(variant, onMainThread.get(variant)! + server.mainThreadCpuMicros() - mainBefore);
        }
      }
      for (const [variant, server] of servers) {
        if ((await timelineOn(`http://127.0.0.1:${server.port}`)) !== keepsTimeline(variant))
          throw new Error(`${variant}: the timeline is not as set`);
      }
      await sleep(EXPORT_WAIT_MS);
      const served = (STREAM_WARM_UP_BATCHES + STREAM_BATCHES) * STREAM_CONCURRENCY;
      for (const variant of STREAM_VARIANTS) {
        const cpu = measured.get(variant)!;
        const sample = {
          cpuMicrosPerRequest: cpu / (STREAM_BATCHES * STREAM_CONCURRENCY),
          mainThreadMicrosPerRequest: onMainThread.get(variant)! / (STREAM_BATCHES * STREAM_CONCURRENCY),
          spansPerRequest: exportsSpans(variant) ? sink.spans(streamSinkName(round, variant)) / served : 0,
        };
        samples.get(variant)!.push(sample);
        console.error(
          `streams, round ${round}/${STREAM_ROUNDS} ${variant}: ${Math.round(sample.cpuMicrosPerRequest)} µs CPU/req ` +
            `(${Math.round(sample.mainThreadMicrosPerRequest)} on the main thread), ` +
            `${sample.spansPerRequest.toFixed(1)} spans exported/req`,
        );
      }
    } finally {
      await Promise.all([...servers.values()].map((server) => server.stop()));
    }
  }
  return samples;
}

/**
 * The streamed pipeline's instructions per request in each variant, each server in a fresh process
 * under callgrind (`undefined` without valgrind): the same figure as the timed one, without the noise of
 * a shared machine. Fresh processes are not paired, so a ratio ranges over every pairing of rounds.
 */
async function countStreaming(
  sink: Sink,
  serverCpu: number | undefined,
): Promise<Map<StreamVariant, InstructionCount[]> | undefined> {
  if (!hasValgrind()) return undefined;
  const batch = streamBatcher();
  const counts = new Map<StreamVariant, InstructionCount[]>(COUNTED_VARIANTS.map((variant) => [variant, []]));
  for (let round = 1; round <= COUNT_ROUNDS; round++) {
    for (const variant of COUNTED_VARIANTS) {
      const server = await startUnderCallgrind(SERVICE, [], {
        env: streamEnv(variant, sink, `${round}/counted`),
        // V8's memory reducer starts a full collection when a process allocates slowly, as any process
        // does under valgrind: without it, a major collection falls into a window only as the heap's
        // growth brings it, as at full speed (which it still does: bench/README.md, "Steady state").
        nodeArgs: ['--no-memory-reducer'],
        label: `the streamed pipeline, ${variant}`,
        cpu: serverCpu,
      });
      try {
        const url = `http://127.0.0.1:${server.port}`;
        for (let i = 0; i < COUNT_WARM_UP_BATCHES; i++) await batch(url);
        const count = await server.count(async () => {
          for (let i = 0; i < COUNT_BATCHES; i++) await batch(url);
        }, COUNT_BATCHES * STREAM_CONCURRENCY);
        counts.get(variant)!.push(count);
        console.error(
          `streams counted, round ${round}/${COUNT_ROUNDS} ${variant}: ${Math.round(count.total)} instructions/req, ` +
            `${Math.round(count.compiling)} of them compiling`,
        );
      } finally {
        server.stop();
      }
    }
  }
  return counts;
}

// ---------------------------------------------------------------------------------------------------
// 3. Memory with the timeline's ring on

interface MemorySample {
  requests: number;
  rss: number;
  heapUsed: number;
  /** Bytes committed to V8's young generation (its new space). */
  youngGeneration: number;
}

async function memoryOf(url: string): Promise<Omit<MemorySample, 'requests'>> {
  const res = await fetch(`${url}/__rss`);
  if (res.status !== 200) throw new Error(`GET /__rss: HTTP ${res.status}`);
  const body = (await res.json()) as { gc: boolean; rss: number; heapUsed: number; youngGeneration: number };
  if (!body.gc) throw new Error('the server cannot collect garbage on demand (start it with --expose-gc)');
  return { rss: body.rss, heapUsed: body.heapUsed, youngGeneration: body.youngGeneration };
}

/** `amount` chat requests (non-streamed, a few tokens), each with an id of its own, so each is a request of the ring. */
async function chat(url: string, amount: number): Promise<void> {
  const result = await autocannon({
    url: `${url}/v1/chat/completions`,
    method: 'POST',
    connections: CONNECTIONS,
    amount,
    headers: { 'content-type': 'application/json', 'x-request-id': 'bench-timeline-[<id>]' },
    idReplacement: true,
    body: JSON.stringify({
      model: MODEL,
      messages: [{ role: 'user', content: 'Say something short.' }],
      max_tokens: MEMORY_MAX_TOKENS,
    }),
  });
  if (result.non2xx > 0 || result.errors > 0 || result.timeouts > 0)
    throw new Error(`${result.non2xx} non-2xx responses, ${result.errors} errors, ${result.timeouts} timeouts`);
}

async function measureMemory(): Promise<{ samples: MemorySample[]; kept: number; rps: number }> {
  const env = { ...PIPELINE_ENV, THREADLINE_DEBUG_ROUTES: 'true' };
  const semiSpace = `${MEMORY_SEMI_SPACE_MIB}`;
  const nodeArgs = ['--expose-gc', `--min-semi-space-size=${semiSpace}`, `--max-semi-space-size=${semiSpace}`];
  const server = await startServerProcess(SERVICE, [], env, nodeArgs);
  try {
    const url = `http://127.0.0.1:${server.port}`;
    if (!(await timelineOn(url))) throw new Error('the timeline is off though THREADLINE_DEBUG_ROUTES=true');
    const samples: MemorySample[] = [];
    const step = MEMORY_REQUESTS / MEMORY_SAMPLES;
    const started = performance.now();
    for (let requests = step; requests <= MEMORY_REQUESTS; requests += step) {
      await chat(url, step);
      const sample = { requests, ...(await memoryOf(url)) };
      samples.push(sample);
      console.error(
        `memory: ${requests} requests, RSS ${mib(sample.rss)} MiB, heap used ${mib(sample.heapUsed)} MiB, ` +
          `young generation ${mib(sample.youngGeneration)} MiB`,
      );
    }
    const rps = MEMORY_REQUESTS / ((performance.now() - started) / 1000);
    const res = await fetch(`${url}/debug/requests?limit=100000`);
    const kept = ((await res.json()) as { data: unknown[] }).data.length;
    return { samples, kept, rps };
  } finally {
    await server.stop();
  }
}

// ---------------------------------------------------------------------------------------------------
// The report

const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
const n = (count: number) => count.toLocaleString('en-US');
const micros = (value: number) => value.toFixed(1);
const percent = (value: number) => `${signed(1)(value * 100)} %`;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function rotate<T>(items: readonly T[], by: number): T[] {
  const start = by % items.length;
  return [...items.slice(start), ...items.slice(0, start)];
}

/** Each round's figure of `variant` less (or over) that of `baseline` in the same round. */
function paired<T>(of: readonly T[], baseline: readonly T[], combine: (value: T, reference: T) => number): Spread {
  return spread(of.map((value, round) => combine(value, baseline[round]!)));
}

async function main(): Promise<void> {
  for (const name of Object.keys(process.env)) if (name.startsWith('OTEL_')) delete process.env[name];
  const serverCpu = pinLoadGeneratorAwayFromServers();
  const sink = await startSink();
  try {
    const http = await measureTinyRoute(sink, serverCpu);
    const streams = await measureStreaming(sink, serverCpu);
    const counted = await countStreaming(sink, serverCpu);
    const memory = await measureMemory();
    report(http, streams, counted, memory, serverCpu);
  } finally {
    sink.close();
  }
}

/** The report's part on the streamed pipeline counted in instructions. */
function countedSection(counted: Map<StreamVariant, InstructionCount[]> | undefined): string[] {
  const heading = '**The streamed pipeline, counted in instructions.** ';
  if (counted === undefined) return [`${heading}Not counted: valgrind is not installed.`, ''];
  const all = (variant: StreamVariant) => counted.get(variant)!.map((count) => count.total);
  const compiling = (variant: StreamVariant) => counted.get(variant)!.map((count) => count.compiling);
  const steady = (variant: StreamVariant) => counted.get(variant)!.map((count) => count.total - count.compiling);
  const instructions = (values: number[]) => formatSpread(spread(values), (value) => n(Math.round(value)));
  const rows = COUNTED_VARIANTS.map((variant) => [
    STREAM_LABELS[variant],
    instructions(all(variant)),
    instructions(compiling(variant)),
    instructions(steady(variant)),
    ...versusNoSpans(variant, variant === 'no spans' ? undefined : unpairedRatio(steady(variant), steady('no spans'))),
  ]);
  return [
    heading +
      `The same servers but the second \`no spans\`, each in a fresh process under valgrind's callgrind, which counts the instructions a process executes (all its threads) ` +
      `whatever else the machine does: ${COUNT_WARM_UP_BATCHES} batches uncounted, then ${COUNT_BATCHES} batches (${n(COUNT_BATCHES * STREAM_CONCURRENCY)} requests) counted; ` +
      `${COUNT_ROUNDS} rounds. Under valgrind the service runs some 50 times slower, so its turns of the event loop hold other mixes of work than at full speed: ` +
      'a check of the timed figures, not a replacement for them. ' +
      '"Compiling" is what V8\'s optimising compilers (TurboFan, Maglev) did while counting was on, which follows when a fresh process\'s compilers reach ' +
      "each function rather than the server's steady cost: the ratios are taken without it. Major collections stay in: one falling into a window of " +
      `${n(COUNT_BATCHES * STREAM_CONCURRENCY)} requests moves a count by up to a third. The counted servers run without V8's memory reducer ` +
      "(`--no-memory-reducer`), which valgrind's slowness sets off; the heap's growth still brings one into some windows " +
      '(bench/README.md, "Steady state"), so the timed table is the one that carries the collector\'s share.',
    '',
    table(
      [
        'server',
        'instructions/request',
        'of them, compiling',
        'without compiling',
        '÷ no spans',
        'goal: spans add ≤ 15 %',
      ],
      rows,
    ),
    '',
    spreadNote(
      COUNT_ROUNDS,
      "a ratio ranges over every pairing of two servers' rounds (fresh processes are not paired)",
    ),
    '',
  ];
}

function report(
  http: Map<HttpVariant, HttpSample[]>,
  streams: Map<StreamVariant, StreamSample[]>,
  counted: Map<StreamVariant, InstructionCount[]> | undefined,
  memory: { samples: MemorySample[]; kept: number; rps: number },
  serverCpu: number | undefined,
): void {
  const cpuOf = (variant: HttpVariant) => http.get(variant)!.map((sample) => sample.cpuMicrosPerRequest);
  const nest = cpuOf('nest');
  const LABELS: Record<HttpVariant, string> = {
    nest: 'plain Nest (`nest`)',
    threadline: 'Threadline, no span recorder (`threadline`)',
    'threadline-otlp': 'Threadline, spans exported (`threadline-otlp`)',
    'nest-otel': 'plain Nest + OpenTelemetry auto-instrumentation (`nest-otel`)',
  };
  const httpRows = HTTP_VARIANTS.map((variant) => {
    const samples = http.get(variant)!;
    const cpu = cpuOf(variant);
    const exporting = variant === 'threadline-otlp' || variant === 'nest-otel';
    return [
      LABELS[variant],
      formatSpread(spread(cpu), micros),
      variant === 'nest'
        ? '+0'
        : comparison(
            paired(cpu, nest, (a, b) => a - b),
            0,
            (v) => signed(1)(v),
          ),
      variant === 'nest'
        ? '+0.0 %'
        : comparison(
            paired(cpu, nest, (a, b) => a / b - 1),
            0,
            percent,
          ),
      exporting ? formatSpread(spread(samples.map((sample) => sample.spansPerRequest)), (v) => v.toFixed(2)) : '—',
    ];
  });
  // Each round's CPU added by export over that added by the auto-instrumentation, both over plain Nest.
  const share = spread(
    nest.map((base, round) => (cpuOf('threadline-otlp')[round]! - base) / (cpuOf('nest-otel')[round]! - base)),
  );

  const streamCpu = (variant: StreamVariant) => streams.get(variant)!.map((sample) => sample.cpuMicrosPerRequest);
  // The baseline of each round: the mean of its two "no spans" processes, whose own ratios to it show
  // how far apart two identical servers read.
  const mainThread = (variant: StreamVariant) =>
    streams.get(variant)!.map((sample) => sample.mainThreadMicrosPerRequest);
  const meanOfNoSpans = (of: (variant: StreamVariant) => number[]) => {
    const again = of('no spans again');
    return of('no spans').map((first, round) => (first + again[round]!) / 2);
  };
  const noSpans = meanOfNoSpans(streamCpu);
  const noSpansMainThread = meanOfNoSpans(mainThread);
  const streamRows = STREAM_VARIANTS.map((variant) => {
    const spansPerRequest = streams.get(variant)!.map((sample) => sample.spansPerRequest);
    const [ratio, verdict] = versusNoSpans(
      variant,
      paired(streamCpu(variant), noSpans, (a, b) => a / b),
    );
    return [
      STREAM_LABELS[variant],
      formatSpread(spread(streamCpu(variant)), (value) => String(Math.round(value))),
      ratio,
      verdict,
      formatSpread(spread(mainThread(variant)), (value) => String(Math.round(value))),
      comparison(
        paired(mainThread(variant), noSpansMainThread, (a, b) => a / b),
        1,
        (value) => value.toFixed(3),
      ),
      exportsSpans(variant) ? formatSpread(spread(spansPerRequest), (value) => value.toFixed(1)) : '—',
    ];
  });
  const streamTokens = streamTokensNote();

  const warm = memory.samples[0]!;
  const later = memory.samples.slice(1);
  const growth = spread(later.map((sample) => sample.rss / warm.rss));
  const memoryRows = memory.samples.map((sample) => [
    n(sample.requests),
    mib(sample.rss),
    mib(sample.heapUsed),
    mib(sample.youngGeneration),
    sample === warm ? '1.000 (reference)' : (sample.rss / warm.rss).toFixed(3),
  ]);

  publishReport('observability', `npm run bench:observability${quick ? ' -- --quick' : ''}`, [
    '### Observability: what spans, export and the timeline cost',
    '',
    'Exported spans go over OTLP (protobuf over HTTP, the default of both exporters, with their default BatchSpanProcessor) ' +
      'to a sink in the benchmark process that counts and drops them; each exporting server has a path of its own, ' +
      'so "spans exported/req" is what reached the sink, counted after waiting for the last batch.',
    '',
    '**The tiny route.** ' +
      `\`GET /ping\` of bench:http on Fastify, four servers each in a fresh process every round, warmed in an order that rotates from round to round, each warmed up with ${n(HTTP_WARM_UP)} requests in ${HTTP_WARM_UP_RUNS.length} runs of fresh connections, ` +
      `then ${n(HTTP_REQUESTS)} requests from autocannon -c ${CONNECTIONS} in ${HTTP_SLICES} slices, the servers taking turns slice by slice in an order that rotates; ` +
      `${HTTP_ROUNDS} interleaved rounds. CPU is the server process's user+system time per request over those requests, from /proc; ` +
      '"vs plain Nest" is the median of the rounds\' differences and ratios against plain Nest of the same round. ' +
      '`threadline-otlp` is `threadline` with `startOtlpExport()` of `@threadline/tracing/otel`; `nest-otel` is plain Nest started with ' +
      "OpenTelemetry's auto-instrumentation (sdk-trace-node, instrumentation-http, -fastify and -nestjs-core, their defaults). " +
      'On Nest 12 only the HTTP instrumentation makes spans (one per request), as a user on Nest 12 would get them: ' +
      '`@opentelemetry/instrumentation-nestjs-core` patches `@nestjs/core` below 12 only, and `-fastify` replaces the CommonJS exports ' +
      "of fastify, which Nest 12's platform-fastify, an ES module, does not import through. " +
      (serverCpu === undefined
        ? 'Servers and load generator were left to the scheduler (no taskset, or one CPU).'
        : `Every server ran on CPU ${serverCpu} only and the load generator (and the sink) on CPU 0 (taskset).`),
    '',
    table(['server', 'server CPU µs/req', 'vs plain Nest, µs/req', 'vs plain Nest', 'spans exported/req'], httpRows),
    '',
    table(
      ['goal', 'figure', 'verdict'],
      [
        [
          'CPU per request export adds (`threadline-otlp` − `nest`) ÷ what the auto-instrumentation adds (`nest-otel` − `nest`)',
          formatSpread(share, (value) => value.toFixed(2)),
          goalVerdict(share, { atMost: 0.5 }),
        ],
      ],
    ),
    '',
    spreadNote(
      HTTP_ROUNDS,
      "a difference, ratio or share ranges over the rounds' own figures (each round against its own plain Nest)",
    ),
    '',
    '**The streamed pipeline.** ' +
      `The service of bench:stream (servers/threadline-service.ts: every component in one process, ${PIPELINE_ENV.THREADLINE_WORKERS} mocker workers with no prefill or decode delay), ` +
      `streaming completions as bench:stream's concurrent phase sends them: batches of ${STREAM_CONCURRENCY} \`POST /v1/completions\` with \`stream: true\` ` +
      `at once (max_tokens ${STREAM_MAX_TOKENS}; ${streamTokens}), read to the end with fetch. ${STREAM_VARIANTS.length} processes, fresh each round and started in an order that rotates from round to round: ` +
      "no spans at all (`THREADLINE_DEBUG_ROUTES=false`, no export), twice, in two processes whose mean is the round's baseline " +
      "(identical processes read some percent apart: each one's ratio to the mean shows how far, the noise every other ratio carries); " +
      `spans made and dropped as they end (a span recorder that keeps nothing, registered by the benchmark's server when \`${SPANS_DROPPED_ENV}=true\`: what making the spans costs, before keeping or sending them); export alone (\`OTEL_EXPORTER_OTLP_ENDPOINT\` set, ` +
      '`THREADLINE_DEBUG_ROUTES=false`), as a service runs by default where it listens on any other than a loopback address; ' +
      'the request timeline alone (`THREADLINE_DEBUG_ROUTES=true`, its default on a loopback address: every span made and kept ' +
      'in its ring); and the timeline with export. Each is warmed up with ' +
      `${STREAM_WARM_UP_BATCHES} batches (a fresh process is still compiling code that runs once a request for some sixty, and compiles a burst of some 140 functions between batches 160 and 180; the ring of the timeline is full by then), ` +
      `then measured over ${STREAM_BATCHES} batches in ${STREAM_SLICES} slices, the servers taking turns slice by slice in an order that rotates; ${STREAM_ROUNDS} rounds. ` +
      (serverCpu === undefined
        ? 'The servers are not pinned to a CPU (taskset is not available).'
        : `Every server (its tokenizer threads included) ran on CPU ${serverCpu} only and the load generator and the sink on CPU 0.`) +
      " The main thread's share is its own user+system time (/proc/<pid>/task/<pid>/stat): the rest is V8's helper threads " +
      "(the garbage collector's concurrent marking and sweeping, compiling) and libuv's.",
    '',
    table(
      [
        'server',
        'server CPU µs/request',
        '÷ no spans (mean of both)',
        'goal: spans add ≤ 15 %',
        'of it, main thread µs/request',
        'main thread ÷ no spans',
        'spans exported/request',
      ],
      streamRows,
    ),
    '',
    spreadNote(
      STREAM_ROUNDS,
      'a ratio ranges over each round\'s own ratio against the mean of its own two "no spans" processes',
    ),
    '',
    ...countedSection(counted),
    '**Memory with the timeline on.** ' +
      `The same service with \`THREADLINE_DEBUG_ROUTES=true\` (its ring of the default 1,000 most recent requests), export off, started with --expose-gc; ` +
      `its young generation fixed at two semi-spaces of ${MEMORY_SEMI_SPACE_MIB} MiB from the start (--min-semi-space-size and --max-semi-space-size: ` +
      'V8 otherwise grows it up to that size when the allocation rate asks, a step in RSS at a different reading in each run); ' +
      `${n(MEMORY_REQUESTS)} non-streamed chat completions (max_tokens ${MEMORY_MAX_TOKENS}) from autocannon -c ${CONNECTIONS}, each with an X-Request-Id of its own, ` +
      `${Math.round(memory.rps)} req/s; memory read in the server after a forced full GC every ${n(MEMORY_REQUESTS / MEMORY_SAMPLES)} requests. ` +
      `At the end the ring held ${n(memory.kept)} requests. The first reading is taken after warm-up (JIT, pools, the ring filled) and is the reference: ` +
      `the goal is that no later reading is more than ${MEMORY_GOAL.toFixed(2)} times it. One process, one run: the range is that of the ${later.length} later readings, not of rounds.`,
    '',
    table(['requests', 'RSS (MiB)', 'heap used (MiB)', 'young generation (MiB)', 'RSS ÷ first reading'], memoryRows),
    '',
    table(
      ['goal', 'figure', 'verdict'],
      [
        [
          'RSS of every later reading ÷ the first (flat after warm-up)',
          formatSpread(growth, (value) => value.toFixed(3)),
          goalVerdict(growth, { atMost: MEMORY_GOAL }, (value) => value.toFixed(2)),
        ],
      ],
    ),
    '',
    '**Export off, in instructions.** With no endpoint set nothing of OpenTelemetry is loaded and, with no timeline either, no span ' +
      'recorder is registered, so no span is started: where one would start, the request path only checks that no recorder is registered. ' +
      'That is the `threadline` server of the tiny route above and of bench:instructions (`bench/results/http-instructions.md`), ' +
      'which is already the export-off path and needs no row of its own. ' +
      '"Export off within 1 % of the instructions per request before spans" is measured there: bench:instructions counts the tracing ' +
      'package as it was before spans (`threadline-before-spans`, built from git) in the same rounds, in its table "export off ÷ before spans".',
  ]);
}

/** The tokens each of bench:stream's concurrent requests streams, for the report's text. */
function streamTokensNote(): string {
  const tokens = Array.from(
    { length: STREAM_CONCURRENCY },
    (_, i) => longestAnswer(`Tell me story number ${i} about the sea.`, STREAM_MAX_TOKENS).tokens,
  );
  return `${Math.min(...tokens)}-${Math.max(...tokens)} tokens each`;
}

await main();
process.exit(0);
