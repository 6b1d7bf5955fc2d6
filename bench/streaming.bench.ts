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
 * whose range the goals (≥ 0.5 for tokens/s) are judged on.
 *
 *   npm run bench:stream               (3 rounds)     npm run bench:stream -- --quick   (1 round)
 */
import { Tokenizer } from '../src/llm/processor/tokenizer.js';
import { MockText } from '../src/llm/worker/mocker/mock-text.js';
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
const MODEL = 'threadline-mocker';
const PIPELINE_ENV = {
  THREADLINE_WORKERS: '2',
  MOCKER_PREFILL_US_PER_TOKEN: '0',
  MOCKER_DECODE_MS_PER_TOKEN: '0',
  // 2 × 32 running sequences: all 64 concurrent streams decode at once, as on the bare server.
  MOCKER_MAX_RUNNING: '32',
  LOG_LEVEL: 'error',
  LOG_REQUESTS: 'false',
};
const SERVERS = [
  { name: 'pipeline', script: new URL('./servers/threadline-service.js', import.meta.url).pathname, env: PIPELINE_ENV },
  { name: 'bare', script: new URL('./servers/sse-bare.js', import.meta.url).pathname, env: {} },
] as const;
type ServerName = (typeof SERVERS)[number]['name'];

/** One completion request and the number of tokens the pipeline streams for it. */
interface StreamRequest {
  prompt: string;
  seed: number;
  maxTokens: number;
  tokens: number;
}

interface Sample {
  singleTokensPerSecond: number;
  singleCpuMicrosPerToken: number;
  concurrentTokensPerSecond: number;
  concurrentCpuMicrosPerToken: number;
}

const tokenizer = new Tokenizer();

/** The request for `prompt` whose seed gives the mocker's longest answer (of the first 4000 seeds). */
function longestAnswer(prompt: string, maxTokens: number): StreamRequest {
  const ids = tokenizer.encode(prompt);
  let best = { seed: 0, length: -1 };
  for (let seed = 0; seed < 4000; seed++) {
    const length = new MockText(ids, seed).length;
    if (length > best.length) best = { seed, length };
  }
  return { prompt, seed: best.seed, maxTokens, tokens: Math.min(maxTokens, best.length) };
}

const TOKEN_MARK = '"finish_reason":null';

/** Streams one completion and reads it to the end; returns the token chunks seen and the time taken. */
async function stream(
  url: string,
  server: ServerName,
  request: StreamRequest,
): Promise<{ tokens: number; ms: number }> {
  const started = performance.now();
  const res = await fetch(`${url}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      model: MODEL,
      prompt: request.prompt,
      seed: request.seed,
      // The bare server writes exactly max_tokens chunks: ask it for what the pipeline streams.
      max_tokens: server === 'bare' ? request.tokens : request.maxTokens,
      stream: true,
    }),
  });
  if (res.status !== 200) throw new Error(`${server}: HTTP ${res.status}: ${await res.text()}`);
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let tokens = 0;
  let carry = ''; // text after the last mark that could be the start of one split across two reads
  let ending = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    const decoded = decoder.decode(value, { stream: true });
    const text = carry + decoded;
    let end = 0;
    for (let at = text.indexOf(TOKEN_MARK); at !== -1; at = text.indexOf(TOKEN_MARK, end)) {
      tokens++;
      end = at + TOKEN_MARK.length;
    }
    carry = text.slice(Math.max(end, text.length - (TOKEN_MARK.length - 1)));
    ending = (ending + decoded).slice(-32);
  }
  const ms = performance.now() - started;
  if (!ending.endsWith('data: [DONE]\n\n')) throw new Error(`${server}: the stream did not end with data: [DONE]`);
  if (tokens !== request.tokens)
    throw new Error(`${server}: streamed ${tokens} token chunks, expected ${request.tokens}`);
  return { tokens, ms };
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
    for (let i = 0; i < 20; i++) await stream(url, server.name, single);
    await Promise.all(concurrent.map((request) => stream(url, server.name, request)));

    let cpuBefore = running.cpuMicros();
    const rates: number[] = [];
    let singleTokens = 0;
    for (let i = 0; i < SEQUENTIAL_STREAMS; i++) {
      const { tokens, ms } = await stream(url, server.name, single);
      rates.push(tokens / (ms / 1000));
      singleTokens += tokens;
    }
    const singleCpu = running.cpuMicros() - cpuBefore;

    cpuBefore = running.cpuMicros();
    const started = performance.now();
    let concurrentTokens = 0;
    for (let b = 0; b < CONCURRENT_BATCHES; b++) {
      const results = await Promise.all(concurrent.map((request) => stream(url, server.name, request)));
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
    // Alternate which server goes first, so neither always gets the cooler machine.
    for (const server of round % 2 === 1 ? SERVERS : [...SERVERS].reverse()) {
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
  const row = (label: string, key: keyof Sample, digits: number, goal: Goal) => {
    const pipeline = of('pipeline', key);
    const bare = of('bare', key);
    // Paired: each round's pipeline against the bare server of the same round.
    const ratio = spread(pipeline.map((value, round) => value / bare[round]!));
    const format = (value: number) => value.toFixed(digits);
    return [
      label,
      formatSpread(spread(pipeline), format),
      formatSpread(spread(bare), format),
      formatSpread(ratio, (value) => value.toFixed(2)),
      goalVerdict(ratio, goal),
    ];
  };
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
      [
        row('tokens/s, one stream', 'singleTokensPerSecond', 0, { atLeast: 0.5 }),
        row(`tokens/s, ${CONCURRENCY} concurrent streams`, 'concurrentTokensPerSecond', 0, { atLeast: 0.5 }),
        row('server CPU µs/token, one stream', 'singleCpuMicrosPerToken', 2, { atMost: 2 }),
        row(`server CPU µs/token, ${CONCURRENCY} concurrent streams`, 'concurrentCpuMicrosPerToken', 2, { atMost: 2 }),
      ],
    ),
    '',
    spreadNote(ROUNDS, '"pipeline / bare" ranges over each round\'s own ratio'),
  ]);
}

await main();
process.exit(0);
