/**
 * Calls over NATS, caller and callee in two processes on one nats-server:
 *   - the round trip and the CPU (both processes) of a unary call: the least an RPC on the NATS client
 *     does (`support/nats-floor.ts`), raw `@nats-io/transport-node` request/reply, Moleculer's
 *     `broker.call` on its NATS transporter (request ids on), and a unary `depends()` call; this process
 *     calls, servers/nats-callee.ts serves all four;
 *   - one streamed `depends()` call's items/s and CPU per item, paced by acknowledgements and not;
 *   - the streamed pipeline (Frontend, Processor+Router, two Workers with the mocker) spread over four
 *     processes on NATS, paced and not, against the same pipeline in one process: tokens/s and CPU per
 *     token (every process of the pipeline, nats-server included) of one stream and of 64 at once.
 * Variants run interleaved within each round, in an order that rotates from round to round; the unary
 * calls take turns in blocks of 100.
 *
 *   npm run bench:nats        npm run bench:nats -- --quick        (needs nats-server on PATH)
 *   npm run bench:nats -- --calls-only     the calls alone, printed, no pipeline and no report written
 */
import 'reflect-metadata';
import { connect } from '@nats-io/transport-node';
import type { TestingModule } from '@nestjs/testing';
import { ServiceBroker } from 'moleculer';
import { cpus, loadavg } from 'node:os';
import { getComponentToken, unary } from '@threadline/runtime';
import type { ComponentClient } from '@threadline/runtime';
import { RequestIdService } from '@threadline/tracing';
import { longestAnswer, stream } from './support/completion-stream.js';
import type { StreamRequest } from './support/completion-stream.js';
import { EchoComponent, RAW_SUBJECT, startEchoModule } from './support/nats-echo.js';
import { floorCaller } from './support/nats-floor.js';
import { startNatsServer } from './support/nats-server.js';
import { publishReport, spreadNote } from './support/report.js';
import { cpuMicros, startServerProcess, threadsCpuMicros } from './support/server-process.js';
import type { ServerProcess } from './support/server-process.js';
import { comparison, formatSpread, goalVerdict, mean, median, spread, table } from './support/stats.js';
import type { Goal } from './support/stats.js';

const quick = process.argv.includes('--quick');
const callsOnly = process.argv.includes('--calls-only');
const CALLS = quick ? 600 : 3000;
/**
 * A round's calls of each variant, in blocks that take turns: the machine's load drifts over seconds, and
 * a variant's calls made in one stretch of a second measured that drift as much as the variant.
 */
const UNARY_BLOCKS = quick ? 3 : 30;
const ITEMS = quick ? 5000 : 50_000;
const ROUNDS = quick ? 2 : 5;
const PIPELINE_ROUNDS = quick ? 1 : 3;
const SEQUENTIAL_STREAMS = quick ? 30 : 200;
const CONCURRENCY = 64;
/** Pacing at 64 streams costs at most 10 % of the tokens/s: unpaced ÷ paced. */
const PACING_GOAL = { atMost: 1.1 };
/** At 64 streams, the pipeline over NATS streams at least half the tokens/s of the one in one process. */
const CROSS_PROCESS_GOAL = { atLeast: 0.5 };
/**
 * Batches of concurrent streams measured: a window of seconds. A Worker's old generation fills in a few
 * thousand requests, and the major collection that follows (its concurrent marking keeps every V8
 * thread busy) doubled that Worker's CPU per token in a window of 6 batches that it fell into, in some
 * fresh processes and not in others.
 */
const CONCURRENT_BATCHES = quick ? 2 : 40;
/**
 * Batches of concurrent streams each pipeline gets before they are measured: code that runs once a
 * request reaches V8's optimising compiler only after thousands of requests (bench:observability
 * measured it), and the processes of a layout, fresh each round, are otherwise measured partly compiled.
 */
const CONCURRENT_WARM_UP_BATCHES = quick ? 1 : 40;
const PAYLOAD = { text: 'x'.repeat(64) };

const SERVICE = new URL('./servers/threadline-service.js', import.meta.url).pathname;
const CALLEE = new URL('./servers/nats-callee.js', import.meta.url).pathname;
const MOCKER_ENV = {
  MOCKER_PREFILL_US_PER_TOKEN: '0',
  MOCKER_DECODE_MS_PER_TOKEN: '0',
  MOCKER_MAX_RUNNING: '32',
  LOG_LEVEL: 'error',
  LOG_REQUESTS: 'false',
};

/** A figure of one variant in one round: wall time or rate, and CPU per unit of work. */
interface Sample {
  value: number;
  cpu: number;
}

/** A unary variant's round: `value` its median round trip, `mean` the mean one (µs). */
interface CallSample extends Sample {
  mean: number;
}

/** CPU time of this process so far, in microseconds. */
function ownCpu(): number {
  const { user, system } = process.cpuUsage();
  return user + system;
}

/**
 * Starts counting the CPU this process and every thread of `peer` use, to the nanosecond the scheduler
 * keeps; the returned function tells how much so far (µs). This process's CPU is read innermost, so
 * that reading the peer's threads from /proc (some ten files) is left out of the count.
 */
function watchCpu(peer: number): () => number {
  const peerBefore = threadsCpuMicros(peer);
  const ownBefore = ownCpu();
  return () => {
    const own = ownCpu() - ownBefore;
    return own + threadsCpuMicros(peer) - peerBefore;
  };
}

/**
 * Runs `call` `count` times one after another, each round trip (µs) pushed to `trips`; returns the CPU
 * this process and `peer` used meanwhile (µs).
 */
async function callBlock(call: () => Promise<unknown>, count: number, peer: number, trips: number[]): Promise<number> {
  const cpuSpent = watchCpu(peer);
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    await call();
    trips.push((performance.now() - started) * 1000);
  }
  return cpuSpent();
}

/** One streamed call of ITEMS items: items/s, and CPU per item of this process and `peer`. */
async function streamed(client: ComponentClient<EchoComponent>, requestIds: RequestIdService, peer: number) {
  const cpuSpent = watchCpu(peer);
  const started = performance.now();
  let received = 0;
  await requestIds.run(async () => {
    for await (const _ of client.items({ count: ITEMS })) received++;
  }, 'bench-nats-stream');
  const seconds = (performance.now() - started) / 1000;
  const cpu = cpuSpent();
  if (received !== ITEMS) throw new Error(`streamed ${received} items, expected ${ITEMS}`);
  return { value: received / seconds, cpu: cpu / received };
}

const UNARY = ['floor', 'raw', 'moleculer', 'depends'] as const;
const PACING = ['paced', 'unpaced'] as const;
const PIPELINES = ['in-process', 'nats-paced', 'nats-unpaced'] as const;
type Pipeline = (typeof PIPELINES)[number];

/** The order of `variants` in round `round`: rotated by one each round. */
function rotated<T>(variants: readonly T[], round: number): T[] {
  const shift = round % variants.length;
  return [...variants.slice(shift), ...variants.slice(0, shift)];
}

async function unaryAndStreamed() {
  const nats = await startNatsServer();
  const callee = await startServerProcess(CALLEE, [nats.url]);
  const requester = await connect({ servers: nats.url });
  const broker = new ServiceBroker({
    nodeID: `bench-caller-${process.pid}`,
    transporter: { type: 'NATS', options: { url: nats.url } },
    logger: false,
  });
  await broker.start();
  await broker.waitForServices(['echo']);
  const callers = new Map<(typeof PACING)[number], TestingModule>([
    ['paced', await startEchoModule(nats.url, false)],
    ['unpaced', await startEchoModule(nats.url, false, false)],
  ]);
  await new Promise((resolve) => setTimeout(resolve, 1500)); // the callee instance's heartbeat
  // Looked up once: a lookup in Nest's container inside a timed call would count against `depends()` alone.
  const clients = new Map(
    PACING.map((pacing) => [
      pacing,
      callers.get(pacing)!.get<ComponentClient<EchoComponent>>(getComponentToken(EchoComponent)),
    ]),
  );
  const clientOf = (pacing: (typeof PACING)[number]) => clients.get(pacing)!;
  const requestIds = callers.get('paced')!.get(RequestIdService);
  const requestId = 'bench-nats';
  const echoed = await broker.call('echo.requestId', {}, { requestID: requestId });
  if (echoed !== requestId) throw new Error(`Moleculer carried request id ${String(echoed)}`);

  const encoded = JSON.stringify(PAYLOAD);
  const floor = await floorCaller(requester);
  const run: Record<(typeof UNARY)[number], () => Promise<unknown>> = {
    floor: () => floor(PAYLOAD),
    raw: () => requester.request(RAW_SUBJECT, encoded, { timeout: 5000 }),
    moleculer: () => broker.call('echo.echo', PAYLOAD, { requestID: requestId }),
    depends: () => unary(clientOf('paced').echo(PAYLOAD)),
  };
  const unarySamples = new Map(UNARY.map((name) => [name, [] as CallSample[]]));
  const streamSamples = new Map(PACING.map((name) => [name, [] as Sample[]]));
  // Round 0 is the warm-up, not recorded: with `--trace-opt`, this process compiled some 600 functions
  // in its first round and 70 more in its second, all three unary variants' code and the streams'.
  for (let round = 0; round <= ROUNDS; round++) {
    const trips = new Map(UNARY.map((name) => [name, [] as number[]]));
    const cpu = new Map(UNARY.map((name) => [name, 0]));
    for (let block = 0; block < UNARY_BLOCKS; block++) {
      for (const name of rotated(UNARY, round + block)) {
        const one = () => callBlock(run[name], CALLS / UNARY_BLOCKS, callee.child.pid!, trips.get(name)!);
        cpu.set(name, cpu.get(name)! + (name === 'depends' ? await requestIds.run(one, requestId) : await one()));
      }
    }
    if (round > 0) {
      for (const name of UNARY) {
        const all = trips.get(name)!;
        unarySamples.get(name)!.push({ value: median(all), mean: mean(all), cpu: cpu.get(name)! / CALLS });
      }
    }
    for (const pacing of rotated(PACING, round)) {
      const sample = await streamed(clientOf(pacing), requestIds, callee.child.pid!);
      if (round > 0) streamSamples.get(pacing)!.push(sample);
    }
    if (round === 0) continue;
    const last = <S extends Sample>(name: string, samples: Map<string, S[]>) => samples.get(name)!.at(-1)!;
    console.error(
      `round ${round}/${ROUNDS}: ` +
        UNARY.map((name) => {
          const sample = last(name, unarySamples);
          return `${name} ${sample.value.toFixed(0)} µs (mean ${sample.mean.toFixed(0)})`;
        }).join(', ') +
        '; stream ' +
        PACING.map((name) => `${name} ${Math.round(last(name, streamSamples).value)} items/s`).join(', '),
    );
  }
  for (const moduleRef of callers.values()) await moduleRef.close();
  await broker.stop();
  await requester.close();
  await callee.stop();
  nats.stop();
  return { unarySamples, streamSamples };
}

/** The processes of one layout of the pipeline, and the URL of its Frontend. */
interface RunningPipeline {
  url: string;
  cpuMicros(): number;
  stop(): Promise<void>;
}

async function startPipeline(layout: Pipeline): Promise<RunningPipeline> {
  if (layout === 'in-process') {
    const single = await startServerProcess(SERVICE, [], { ...MOCKER_ENV, THREADLINE_WORKERS: '2' });
    return { url: `http://127.0.0.1:${single.port}`, cpuMicros: () => single.cpuMicros(), stop: () => single.stop() };
  }
  const nats = await startNatsServer();
  const env = {
    ...MOCKER_ENV,
    THREADLINE_TRANSPORT: 'nats',
    NATS_URL: nats.url,
    THREADLINE_WORKERS: '1',
    THREADLINE_STREAM_PACING: layout === 'nats-paced' ? 'on' : 'off',
  };
  const processes: ServerProcess[] = [];
  const stop = async () => {
    await Promise.all(processes.map((proc) => proc.stop()));
    nats.stop();
  };
  try {
    for (const components of ['worker', 'worker', 'processor,router', 'frontend'])
      processes.push(await startServerProcess(SERVICE, [], { ...env, THREADLINE_COMPONENTS: components }));
    const url = `http://127.0.0.1:${processes.at(-1)!.port}`;
    for (let tries = 0; (await fetch(`${url}/ready`).then((res) => res.status)) !== 200; tries++) {
      if (tries > 300) throw new Error('the pipeline over NATS did not get ready');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return {
      url,
      cpuMicros: () => processes.reduce((sum, proc) => sum + proc.cpuMicros(), cpuMicros(nats.pid)),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

interface PipelineSample {
  single: Sample;
  concurrent: Sample;
}

async function measurePipeline(
  layout: Pipeline,
  single: StreamRequest,
  concurrent: readonly StreamRequest[],
): Promise<PipelineSample> {
  const pipeline = await startPipeline(layout);
  try {
    for (let i = 0; i < 20; i++) await stream(pipeline.url, layout, single);
    await Promise.all(concurrent.map((request) => stream(pipeline.url, layout, request)));

    let cpuBefore = pipeline.cpuMicros();
    const rates: number[] = [];
    let singleTokens = 0;
    for (let i = 0; i < SEQUENTIAL_STREAMS; i++) {
      const { tokens, ms } = await stream(pipeline.url, layout, single);
      rates.push(tokens / (ms / 1000));
      singleTokens += tokens;
    }
    const singleCpu = (pipeline.cpuMicros() - cpuBefore) / singleTokens;

    for (let b = 0; b < CONCURRENT_WARM_UP_BATCHES; b++)
      await Promise.all(concurrent.map((request) => stream(pipeline.url, layout, request)));

    cpuBefore = pipeline.cpuMicros();
    const started = performance.now();
    let concurrentTokens = 0;
    for (let b = 0; b < CONCURRENT_BATCHES; b++) {
      const results = await Promise.all(concurrent.map((request) => stream(pipeline.url, layout, request)));
      concurrentTokens += results.reduce((sum, result) => sum + result.tokens, 0);
    }
    const seconds = (performance.now() - started) / 1000;
    return {
      single: { value: median(rates), cpu: singleCpu },
      concurrent: {
        value: concurrentTokens / seconds,
        cpu: (pipeline.cpuMicros() - cpuBefore) / concurrentTokens,
      },
    };
  } finally {
    await pipeline.stop();
  }
}

async function pipelines() {
  const single = longestAnswer('Tell me a long story about the sea.', 2000);
  const concurrent = Array.from({ length: CONCURRENCY }, (_, i) =>
    longestAnswer(`Tell me story number ${i} about the sea.`, 500),
  );
  const samples = new Map(PIPELINES.map((name) => [name, [] as PipelineSample[]]));
  for (let round = 1; round <= PIPELINE_ROUNDS; round++) {
    for (const layout of rotated(PIPELINES, round)) {
      const sample = await measurePipeline(layout, single, concurrent);
      samples.get(layout)!.push(sample);
      console.error(
        `pipeline round ${round}/${PIPELINE_ROUNDS} ${layout}: one stream ${Math.round(sample.single.value)} tok/s ` +
          `(${sample.single.cpu.toFixed(1)} µs CPU/tok), ${CONCURRENCY} streams ${Math.round(sample.concurrent.value)} tok/s ` +
          `(${sample.concurrent.cpu.toFixed(1)} µs CPU/tok)`,
      );
    }
  }
  return samples;
}

/** `values[round] / reference[round]` for every round: a paired ratio. */
function ratios(values: readonly number[], reference: readonly number[]) {
  return spread(values.map((value, round) => value / reference[round]!));
}

async function main(): Promise<void> {
  const loadBefore = loadavg()[0]!;
  const { unarySamples, streamSamples } = await unaryAndStreamed();
  if (callsOnly) {
    for (const [name, samples] of [...unarySamples, ...streamSamples])
      console.log(
        `${name}: ${formatSpread(spread(samples.map((s) => s.value)), (v) => v.toFixed(0))} (µs or items/s), CPU ${formatSpread(spread(samples.map((s) => s.cpu)), (v) => v.toFixed(1))} µs`,
      );
    return;
  }
  const pipelineSamples = await pipelines();
  const loadAfter = loadavg()[0]!;

  const micros = (value: number) => value.toFixed(0);
  const cpuMicrosFormat = (value: number) => value.toFixed(1);
  const of = (name: (typeof UNARY)[number], key: keyof CallSample) => unarySamples.get(name)!.map((s) => s[key]);
  const unaryRow = (label: string, name: (typeof UNARY)[number], goal?: Goal) => {
    const versusRaw = ratios(of(name, 'value'), of('raw', 'value'));
    const versusMoleculer = ratios(of(name, 'value'), of('moleculer', 'value'));
    return [
      label,
      formatSpread(spread(of(name, 'value')), micros),
      formatSpread(spread(of(name, 'mean')), micros),
      formatSpread(spread(of(name, 'cpu')), cpuMicrosFormat),
      name === 'raw' ? '1.00' : comparison(versusRaw, 1, (value) => value.toFixed(2)),
      name === 'moleculer' ? '1.00' : comparison(versusMoleculer, 1, (value) => value.toFixed(2)),
      goal === undefined ? '' : goalVerdict(versusMoleculer, goal),
    ];
  };
  const streamOf = (name: (typeof PACING)[number], key: keyof Sample) => streamSamples.get(name)!.map((s) => s[key]);
  const pipelineOf = (name: Pipeline, phase: keyof PipelineSample, key: keyof Sample) =>
    pipelineSamples.get(name)!.map((sample) => sample[phase][key]);
  const tokens = (value: number) => Math.round(value).toLocaleString('en');
  const pipelineRow = (label: string, name: Pipeline, phase: keyof PipelineSample, goal?: Goal) => {
    const rate = pipelineOf(name, phase, 'value');
    const versusInProcess = ratios(rate, pipelineOf('in-process', phase, 'value'));
    const pacingCost = ratios(pipelineOf('nats-unpaced', phase, 'value'), rate);
    return [
      label,
      formatSpread(spread(rate), tokens),
      formatSpread(spread(pipelineOf(name, phase, 'cpu')), cpuMicrosFormat),
      name === 'in-process' ? '1.00' : comparison(versusInProcess, 1, (value) => value.toFixed(2)),
      goal === undefined ? '' : goalVerdict(versusInProcess, goal),
      name !== 'nats-paced'
        ? ''
        : comparison(pacingCost, 1, (value) => value.toFixed(2)) +
          (phase === 'concurrent' ? `; ${goalVerdict(pacingCost, PACING_GOAL)}` : ''),
    ];
  };
  const pacedStreamCost = ratios(streamOf('unpaced', 'value'), streamOf('paced', 'value'));
  publishReport('nats', `npm run bench:nats${quick ? ' -- --quick' : ''}`, [
    '### NATS: calls between two processes',
    '',
    `${CALLS.toLocaleString('en')} sequential calls of a 64-byte payload per variant and round, in ${UNARY_BLOCKS} blocks of ` +
      `${CALLS / UNARY_BLOCKS} that take turns, in an order that rotates from block to block; the caller in the benchmark's ` +
      'process, the callee in another, through a real nats-server on loopback. A round gives each variant the median ' +
      "and the mean of its calls' round trips, and its CPU per call: the time both processes spent on CPU " +
      `(every thread of the callee, to the nanosecond). Median of ${ROUNDS} rounds after one unrecorded round of ` +
      'warm-up; "vs raw" and "vs Moleculer" compare median round trips, and so does the goal.',
    '',
    table(
      [
        'call',
        'median round trip (µs)',
        'mean round trip (µs)',
        'CPU per call (µs)',
        'vs raw',
        'vs Moleculer',
        'goal (≤ Moleculer)',
      ],
      [
        unaryRow("the client's floor: publish with a reply subject, one inbox, JSON both ways", 'floor'),
        unaryRow('raw @nats-io/transport-node request/reply', 'raw'),
        unaryRow('Moleculer 0.15 `broker.call`, NATS transporter, requestID', 'moleculer'),
        unaryRow('unary `depends()` over NATS', 'depends', { atMost: 1 }),
      ],
    ),
    '',
    `One streamed \`depends()\` call of ${ITEMS.toLocaleString('en')} items, caller and callee as above:`,
    '',
    table(
      ['stream', 'items/s', 'CPU per item (µs)'],
      PACING.map((name) => [
        name === 'paced' ? 'paced by acknowledgements (the default)' : 'not paced (`pacing: false`)',
        formatSpread(spread(streamOf(name, 'value')), tokens),
        formatSpread(spread(streamOf(name, 'cpu')), (value) => value.toFixed(2)),
      ]),
    ),
    '',
    `Unpaced / paced items/s: ${comparison(pacedStreamCost, 1, (value) => value.toFixed(2))}.`,
    '',
    spreadNote(ROUNDS, "a ratio ranges over each round's own ratio"),
    '',
    '### The streamed pipeline across processes',
    '',
    'Frontend, Processor+Router and two Workers (the mocker, no prefill or decode delay) in four processes on ' +
      'a nats-server of their own, against the same pipeline in one process (two workers, in-process calls). ' +
      `One stream: ${SEQUENTIAL_STREAMS} completions one after another, median tokens/s of a stream; ${CONCURRENCY} streams: ` +
      `${CONCURRENT_BATCHES} batches of ${CONCURRENCY} concurrent completions after ${CONCURRENT_WARM_UP_BATCHES} batches of warm-up, total tokens/s. CPU per token: every ` +
      `process of the pipeline, nats-server included. Median of ${PIPELINE_ROUNDS} rounds, fresh processes for each.`,
    '',
    table(
      ['pipeline', 'tokens/s', 'CPU per token (µs)', 'vs in-process', 'goal', 'unpaced / paced'],
      [
        pipelineRow('one stream, in one process', 'in-process', 'single'),
        pipelineRow('one stream, over NATS, paced', 'nats-paced', 'single'),
        pipelineRow('one stream, over NATS, not paced', 'nats-unpaced', 'single'),
        pipelineRow(`${CONCURRENCY} streams, in one process`, 'in-process', 'concurrent'),
        pipelineRow(`${CONCURRENCY} streams, over NATS, paced`, 'nats-paced', 'concurrent', CROSS_PROCESS_GOAL),
        pipelineRow(`${CONCURRENCY} streams, over NATS, not paced`, 'nats-unpaced', 'concurrent'),
      ],
    ),
    '',
    "Goals: a unary `depends()` round trip no slower than Moleculer's; at 64 streams, the pipeline over NATS " +
      `streaming ${CROSS_PROCESS_GOAL.atLeast.toFixed(2)} or more of the tokens/s of the one in one process ("vs ` +
      `in-process"); pacing costing at most ${Math.round((PACING_GOAL.atMost - 1) * 100)} % ("unpaced / paced" ≤ ` +
      `${PACING_GOAL.atMost.toFixed(2)}).`,
    '',
    spreadNote(PIPELINE_ROUNDS, "a ratio ranges over each round's own ratio"),
    '',
    `Load average (1 min) ${loadBefore.toFixed(1)} before the run and ${loadAfter.toFixed(1)} after, on ${cpus().length} CPUs: ` +
      'with a load above the CPU count the machine was shared with other work during the run, and the wide ranges ' +
      'show it; CPU per call or per token moves less than the rates.',
  ]);
}

await main();
process.exit(0);
