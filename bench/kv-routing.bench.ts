/**
 * KV-aware routing against round-robin (and random), same workers, same workload: 8 prompt families
 * whose prompts share a long prefix, sent by concurrent streaming clients. Reports the total prompt
 * cache hit rate (cached_tokens / prompt_tokens, as the responses' usage says) and the mean time to
 * first token seen by the clients. Rounds are interleaved; medians of rounds are reported with their
 * range, and the TTFT ratio against round-robin is each round's own, called within noise where its rounds
 * fall on both sides of 1.00.
 *
 *   npm run bench:kv               (3 rounds)     npm run bench:kv -- --quick   (1 round)
 */
import 'reflect-metadata';
import { Writable } from 'node:stream';
import type { AddressInfo } from 'node:net';
import { createApp } from '../src/app.factory.js';
import { loadAppConfig } from '../src/config/app.config.js';
import { loadLlmConfig } from '../src/llm/llm.config.js';
import { mulberry32 } from '../src/llm/worker/mocker/mock-text.js';
import { publishReport, spreadNote } from './support/report.js';
import { comparison, formatSpread, mean, median, spread, table } from './support/stats.js';

const FAMILIES = 8;
const REQUESTS_PER_FAMILY = 24;
const CLIENTS = 8;
const PREFIX_WORDS = 900;
const ENV = {
  THREADLINE_WORKERS: '4',
  MOCKER_PREFILL_US_PER_TOKEN: '100',
  MOCKER_DECODE_MS_PER_TOKEN: '2',
  MOCKER_BLOCK_SIZE: '16',
  // Room for about two families' prefixes per worker: enough when routing keeps the families apart,
  // too little when every worker sees all eight.
  MOCKER_KV_BLOCKS: '320',
  MOCKER_MAX_RUNNING: '4',
  LOG_LEVEL: 'error',
  LOG_REQUESTS: 'false',
};
const POLICIES = ['kv', 'round-robin', 'random'] as const;

interface RoundResult {
  promptTokens: number;
  hitRate: number;
  meanTtftMs: number;
  p50TtftMs: number;
}

function workload(): string[] {
  const random = mulberry32(7); // seeded: every run sends the same workload
  const prefixes = Array.from({ length: FAMILIES }, (_, f) =>
    Array.from({ length: PREFIX_WORDS }, () => `family${f}word${Math.floor(random() * 5000)}`)
      .join(' ')
      .slice(0, PREFIX_WORDS * 6),
  );
  const prompts: string[] = [];
  for (let f = 0; f < FAMILIES; f++) {
    for (let r = 0; r < REQUESTS_PER_FAMILY; r++)
      prompts.push(`${prefixes[f]} question ${r} about topic ${Math.floor(random() * 1e6)}?`);
  }
  // Shuffled with a fixed seed: families arrive mixed, the same way every run.
  for (let i = prompts.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [prompts[i], prompts[j]] = [prompts[j]!, prompts[i]!];
  }
  return prompts;
}

async function oneRequest(url: string, prompt: string): Promise<{ ttftMs: number; prompt: number; cached: number }> {
  const started = performance.now();
  const res = await fetch(`${url}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      model: 'threadline-mocker',
      prompt,
      max_tokens: 8,
      stream: true,
      stream_options: { include_usage: true },
    }),
  });
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  let ttftMs: number | undefined;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
    if (ttftMs === undefined && text.includes('"text":"')) ttftMs = performance.now() - started;
  }
  const usageLine = text.split('\n').find((line) => line.includes('"usage"'))!;
  const usage = (
    JSON.parse(usageLine.slice('data: '.length)) as {
      usage: { prompt_tokens: number; prompt_tokens_details: { cached_tokens: number } };
    }
  ).usage;
  return { ttftMs: ttftMs!, prompt: usage.prompt_tokens, cached: usage.prompt_tokens_details.cached_tokens };
}

async function round(policy: string, prompts: readonly string[]): Promise<RoundResult> {
  const env = { ...ENV, THREADLINE_ROUTER: policy };
  const config = loadAppConfig(env);
  config.tracing.logDestination = new Writable({ write: (_chunk, _encoding, done) => done() });
  const app = await createApp(config, loadLlmConfig(env));
  await app.listen(0, '127.0.0.1');
  const url = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
  try {
    const results: Array<Awaited<ReturnType<typeof oneRequest>>> = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: CLIENTS }, async () => {
        while (next < prompts.length) results.push(await oneRequest(url, prompts[next++]!));
      }),
    );
    const ttfts = results.map((r) => r.ttftMs);
    return {
      promptTokens: mean(results.map((r) => r.prompt)),
      hitRate: results.reduce((s, r) => s + r.cached, 0) / results.reduce((s, r) => s + r.prompt, 0),
      meanTtftMs: mean(ttfts),
      p50TtftMs: median(ttfts),
    };
  } finally {
    await app.close();
  }
}

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  const rounds = quick ? 1 : 3;
  const prompts = workload();
  const results = new Map<string, RoundResult[]>(POLICIES.map((p) => [p, []]));
  for (let r = 0; r < rounds; r++) {
    for (const policy of POLICIES) {
      const result = await round(policy, prompts);
      results.get(policy)!.push(result);
      console.error(
        `round ${r + 1}/${rounds} ${policy}: hit ${(result.hitRate * 100).toFixed(1)}%, mean TTFT ${result.meanTtftMs.toFixed(1)} ms`,
      );
    }
  }
  const rr = results.get('round-robin')!;
  const ms = (value: number) => value.toFixed(1);
  const rows = POLICIES.map((policy) => {
    const list = results.get(policy)!;
    // Paired: each round's policy against round-robin in the same round.
    const vsRoundRobin = spread(list.map((x, r) => x.meanTtftMs / rr[r]!.meanTtftMs));
    return [
      policy,
      formatSpread(spread(list.map((x) => x.hitRate * 100)), (value) => value.toFixed(1)),
      formatSpread(spread(list.map((x) => x.meanTtftMs)), ms),
      formatSpread(spread(list.map((x) => x.p50TtftMs)), ms),
      policy === 'round-robin' ? '1.00' : comparison(vsRoundRobin, 1, (value) => value.toFixed(2)),
    ];
  });
  publishReport('kv-routing', `npm run bench:kv${quick ? ' -- --quick' : ''}`, [
    `### KV-aware routing vs round-robin`,
    '',
    `${FAMILIES} prompt families × ${REQUESTS_PER_FAMILY} requests (${Math.round(results.get('kv')![0]!.promptTokens)} prompt tokens on average, ` +
      `nearly all of them the family's prefix), ${CLIENTS} streaming clients, ` +
      `${ENV.THREADLINE_WORKERS} mocker workers (prefill ${ENV.MOCKER_PREFILL_US_PER_TOKEN} µs/token, decode ${ENV.MOCKER_DECODE_MS_PER_TOKEN} ms/token, ` +
      `${ENV.MOCKER_KV_BLOCKS} KV blocks of ${ENV.MOCKER_BLOCK_SIZE} tokens each). Median of ${rounds} interleaved round(s).`,
    '',
    table(
      ['router', 'prompt cache hit rate (%)', 'mean TTFT (ms)', 'median TTFT (ms)', 'mean TTFT vs round-robin'],
      rows,
    ),
    '',
    spreadNote(rounds, '"vs round-robin" ranges over each round\'s own ratio'),
  ]);
}

await main();
process.exit(0);
