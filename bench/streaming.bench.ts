/**
 * Streaming throughput of the Threadline pipeline against a bare Fastify server writing the same SSE.
 * Two servers, each in its own process (see servers/): the whole pipeline (Frontend → Processor →
 * Router → Worker in one process, 2 mocker workers with no prefill or decode delay, so the tokens come
 * as fast as the pipeline can carry them), and a bare Fastify 5 route writing the same number of
 * OpenAI `text_completion` chunks of the same shape as fast as it can. This process is the client
 * (plain fetch, reading every body to the end) and measures, per server:
 *   - tokens/s of one stream: streams of max_tokens 2000 sent one after another (median of streams);
 *   - tokens/s in total of 64 concurrent streams of max_tokens 500 (batches of 64, total over batches);
 *   - server CPU µs per streamed token in each of the two phases (user + system time, from /proc).
 * The mocker ends an answer at its natural length (at most 159 tokens), below both max_tokens; the
 * prompts and seeds are chosen for the longest answers, and the bare server is asked for exactly as
 * many tokens as the pipeline streams (checked on every stream). The servers alternate round by
 * round; the table reports medians of rounds with their range, and each round's ratio pipeline / bare,
 * whose range the goals (≥ 0.5 for tokens/s) are judged on. A third server, the pipeline with no
 * tokenizer threads (THREADLINE_TOKENIZER_THREADS=0: every prompt tokenized on the event loop, as before
 * long prompts moved to threads), gives the same-run check that the threads cost ordinary prompts
 * nothing (goal: tokens/s with the default threads ≥ 0.95 of it).
 *
 *   npm run bench:stream               (3 rounds)     npm run bench:stream -- --quick   (1 round)
 */
import { longestAnswer, stream } from './support/completion-stream.js';
import type { StreamRequest } from './support/completion-stream.js';
import { startServerProcess } from './support/server-process.js';
import { publishReport, spreadNote } from './support/report.js';
import { formatSpread, goalVerdict, median, spread, table } from './support/stats.js';
import type { Goal } from './support/stats.js';

const quick = process.argv.includes('--quick');
const ROUNDS = quick ? 1 : 3;
const SINGLE_MAX_TOKENS = 2000;
const SEQUENTIAL_STREAMS = quick ? 300 : 2000;
const CONCURRENT_MAX_TOKENS = 500;
const CONCURRENCY = 64;
const CONCURRENT_BATCHES = quick ? 4 : 30;
const PIPELINE_ENV = {
  THREADLINE_WORKERS: '2',
  MOCKER_PREFILL_US_PER_TOKEN: '0',
  MOCKER_DECODE_MS_PER_TOKEN: '0',
  // 2 × 32 running sequences: all 64 concurrent streams decode at once, as on the bare server.
  MOCKER_MAX_RUNNING: '32',
  LOG_LEVEL: 'error',
  LOG_REQUESTS: 'false',
};
const PIPELINE = new URL('./servers/threadline-service.js', import.meta.url).pathname;
const SERVERS = [
  { name: 'pipeline', script: PIPELINE, env: PIPELINE_ENV },
  { name: 'bare', script: new URL('./servers/sse-bare.js', import.meta.url).pathname, env: {} },
  { name: 'no-threads', script: PIPELINE, env: { ...PIPELINE_ENV, THREADLINE_TOKENIZER_THREADS: '0' } },
] as const;
type ServerName = (typeof SERVERS)[number]['name'];

interface Sample {
  singleTokensPerSecond: number;
  singleCpuMicrosPerToken: number;
  concurrentTokensPerSecond: number;
  concurrentCpuMicrosPerToken: number;
}

async function measure(
  server: (typeof SERVERS)[number],
  single: StreamRequest,
  concurrent: readonly StreamRequest[],
): Promise<Sample> {
  const running = await startServerProcess(server.script, [], server.env);
  try {
    const url = `http://127.0.0.1:${running.port}`;
    // Warm-up: JIT, connection pool, the tokenizer's tables.
    for (let i = 0; i < 20; i++) await stream(url, server.name, single, server.name === 'bare');
    await Promise.all(concurrent.map((request) => stream(url, server.name, request, server.name === 'bare')));

    let cpuBefore = running.cpuMicros();
    const rates: number[] = [];
    let singleTokens = 0;
    for (let i = 0; i < SEQUENTIAL_STREAMS; i++) {
      const { tokens, ms } = await stream(url, server.name, single, server.name === 'bare');
      rates.push(tokens / (ms / 1000));
      singleTokens += tokens;
    }
    const singleCpu = running.cpuMicros() - cpuBefore;

    cpuBefore = running.cpuMicros();
    const started = performance.now();
    let concurrentTokens = 0;
    for (let b = 0; b < CONCURRENT_BATCHES; b++) {
      const results = await Promise.all(
        concurrent.map((request) => stream(url, server.name, request, server.name === 'bare')),
      );
      concurrentTokens += results.reduce((sum, r) => sum + r.tokens, 0);
    }
    const seconds = (performance.now() - started) / 1000;
    const concurrentCpu = running.cpuMicros() - cpuBefore;
    return {
      singleTokensPerSecond: median(rates),
      singleCpuMicrosPerToken: singleCpu / singleTokens,
      concurrentTokensPerSecond: concurrentTokens / seconds,
      concurrentCpuMicrosPerToken: concurrentCpu / concurrentTokens,
    };
  } finally {
    await running.stop();
  }
}

async function main(): Promise<void> {
  const single = longestAnswer('Tell me a long story about the sea.', SINGLE_MAX_TOKENS);
  const concurrent = Array.from({ length: CONCURRENCY }, (_, i) =>
    longestAnswer(`Tell me story number ${i} about the sea.`, CONCURRENT_MAX_TOKENS),
  );
  const samples = new Map<ServerName, Sample[]>(SERVERS.map((s) => [s.name, []]));
  for (let round = 1; round <= ROUNDS; round++) {
    // Rotate which server goes first, so none always gets the cooler machine.
    const shift = (round - 1) % SERVERS.length;
    for (const server of [...SERVERS.slice(shift), ...SERVERS.slice(0, shift)]) {
      const sample = await measure(server, single, concurrent);
      samples.get(server.name)!.push(sample);
      console.error(
        `round ${round}/${ROUNDS} ${server.name}: one stream ${Math.round(sample.singleTokensPerSecond)} tok/s ` +
          `(${sample.singleCpuMicrosPerToken.toFixed(2)} µs CPU/tok), ${CONCURRENCY} streams ${Math.round(sample.concurrentTokensPerSecond)} tok/s ` +
          `(${sample.concurrentCpuMicrosPerToken.toFixed(2)} µs CPU/tok)`,
      );
    }
  }
  const of = (name: ServerName, key: keyof Sample) => samples.get(name)!.map((s) => s[key]);
  /** `a` against `b`, each round against the other of the same round. */
  const row = (a: ServerName, b: ServerName, label: string, key: keyof Sample, digits: number, goal?: Goal) => {
    const ours = of(a, key);
    const theirs = of(b, key);
    const ratio = spread(ours.map((value, round) => value / theirs[round]!));
    const format = (value: number) => value.toFixed(digits);
    return [
      label,
      formatSpread(spread(ours), format),
      formatSpread(spread(theirs), format),
      formatSpread(ratio, (value) => value.toFixed(2)),
      goal === undefined ? '' : goalVerdict(ratio, goal),
    ];
  };
  const rows = (a: ServerName, b: ServerName, tokensGoal: Goal, cpuGoal?: Goal) =>
    (
      [
        ['tokens/s, one stream', 'singleTokensPerSecond', 0, tokensGoal],
        [`tokens/s, ${CONCURRENCY} concurrent streams`, 'concurrentTokensPerSecond', 0, tokensGoal],
        ['server CPU µs/token, one stream', 'singleCpuMicrosPerToken', 2, cpuGoal],
        [`server CPU µs/token, ${CONCURRENCY} concurrent streams`, 'concurrentCpuMicrosPerToken', 2, cpuGoal],
      ] as const
    ).map(([label, key, digits, goal]) => row(a, b, label, key, digits, goal));
  const concurrentTokens = concurrent.map((r) => r.tokens);
  publishReport('streaming', `npm run bench:stream${quick ? ' -- --quick' : ''}`, [
    '### Streaming: the pipeline against bare Fastify',
    '',
    `\`POST /v1/completions\` with \`stream: true\`, read to the end with fetch from a separate process. ` +
      `Pipeline: every component in one process, ${PIPELINE_ENV.THREADLINE_WORKERS} mocker workers with no prefill or decode delay. ` +
      `Bare: one Fastify 5 route writing the same SSE chunks. One stream: ${SEQUENTIAL_STREAMS} streams in sequence ` +
      `(max_tokens ${SINGLE_MAX_TOKENS}; the mocker stops at ${single.tokens} tokens), tokens/s is the median of streams. ` +
      `Concurrent: ${CONCURRENT_BATCHES} batches of ${CONCURRENCY} streams at once (max_tokens ${CONCURRENT_MAX_TOKENS}; ` +
      `${Math.min(...concurrentTokens)}-${Math.max(...concurrentTokens)} tokens each), total tokens over total time. ` +
      `CPU is the server process's user+system time per streamed token, from /proc. Median of ${ROUNDS} interleaved round(s).`,
    '',
    table(
      ['measure', 'pipeline', 'bare Fastify', 'pipeline / bare', 'goal'],
      rows('pipeline', 'bare', { atLeast: 0.5 }, { atMost: 2 }),
    ),
    '',
    `Tokenizer threads: the same pipeline with its default tokenizer threads (\`pipeline\`, as above) and with none ` +
      `(\`THREADLINE_TOKENIZER_THREADS=0\`: every prompt tokenized on the event loop, as before long prompts moved to threads), ` +
      `in the same rounds. Its prompts are ordinary ones, short enough to be tokenized inline either way: the goal is that the ` +
      `threads cost them nothing (tokens/s at least 0.95 of the pipeline without them).`,
    '',
    table(
      ['measure', 'default threads', 'no threads', 'default / none', 'goal'],
      rows('pipeline', 'no-threads', { atLeast: 0.95 }),
    ),
    '',
    spreadNote(ROUNDS, '"pipeline / bare" ranges over each round\'s own ratio'),
  ]);
}

await main();
process.exit(0);
