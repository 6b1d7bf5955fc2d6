/**
 * Whether request contexts are released: the Threadline service (servers/threadline-service.ts, its
 * own process, started with --expose-gc) takes `GET /health` requests from autocannon, each with an
 * incoming X-Request-Id of its own (autocannon's id replacement), and its resident set size is read
 * (`GET /__rss`, after a full garbage collection) at 100,000 requests and again at 1,000,000. A service
 * that keeps anything per request grows between the two; the goal is RSS(1M) / RSS(100k) ≤ 1.10.
 * Heap used is reported too: it shows a leak of JS objects more plainly than the RSS does. Each round
 * starts a fresh server; figures are medians of rounds with their range, and the goal is judged on the
 * range of the rounds' own ratios.
 *
 *   npm run bench:memory             (3 rounds of 100,000 then 1,000,000 requests)
 *   npm run bench:memory -- --quick  (2 rounds of 10,000 then 100,000)
 */
import autocannon from 'autocannon';
import { publishReport, spreadNote } from './support/report.js';
import { startServerProcess } from './support/server-process.js';
import { comparison, formatSpread, goalVerdict, spread, table } from './support/stats.js';

const quick = process.argv.includes('--quick');
const FIRST = quick ? 10_000 : 100_000;
const TOTAL = quick ? 100_000 : 1_000_000;
const WARM_UP = 5_000;
const ROUNDS = quick ? 2 : 3;
const CONNECTIONS = 50;
const ENV = { THREADLINE_WORKERS: '2', LOG_LEVEL: 'error', LOG_REQUESTS: 'false' };
const SERVER = new URL('./servers/threadline-service.js', import.meta.url).pathname;

interface Memory {
  gc: boolean;
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
}

const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);

async function memory(url: string): Promise<Memory> {
  const res = await fetch(`${url}/__rss`);
  if (res.status !== 200) throw new Error(`GET /__rss: HTTP ${res.status}`);
  const body = (await res.json()) as Memory;
  if (!body.gc) throw new Error('the server cannot collect garbage on demand (start it with --expose-gc)');
  return body;
}

/** `amount` requests of `GET /health`, each with an id of its own; returns req/s. */
async function load(url: string, amount: number): Promise<number> {
  const result = await autocannon({
    url: `${url}/health`,
    connections: CONNECTIONS,
    amount,
    headers: { 'x-request-id': 'bench-mem-[<id>]' },
    idReplacement: true,
  });
  if (result.non2xx > 0 || result.errors > 0 || result.timeouts > 0) {
    throw new Error(`${result.non2xx} non-2xx responses, ${result.errors} errors, ${result.timeouts} timeouts`);
  }
  return result.requests.total / result.duration;
}

/** One round: a fresh server, its memory at start, after FIRST requests and after TOTAL. */
interface Round {
  started: Memory;
  first: Memory;
  last: Memory;
  rps: number;
  cpuMicrosPerRequest: number;
}

async function round(number: number): Promise<Round> {
  const server = await startServerProcess(SERVER, [], ENV, ['--expose-gc']);
  try {
    const url = `http://127.0.0.1:${server.port}`;
    // The ids really are per request and echoed: two requests, two different ids.
    const echoed = await Promise.all(
      ['bench-mem-check-1', 'bench-mem-check-2'].map(async (id) =>
        (await fetch(`${url}/health`, { headers: { 'x-request-id': id } })).headers.get('x-request-id'),
      ),
    );
    if (echoed[0] !== 'bench-mem-check-1' || echoed[1] !== 'bench-mem-check-2')
      throw new Error(`ids not echoed: ${echoed.join(', ')}`);

    const started = await memory(url);
    await load(url, WARM_UP);
    const cpuBefore = server.cpuMicros();
    const rpsFirst = await load(url, FIRST - WARM_UP);
    const first = await memory(url);
    console.error(
      `round ${number}/${ROUNDS}, ${FIRST} requests: RSS ${mib(first.rss)} MiB, heap used ${mib(first.heapUsed)} MiB (${Math.round(rpsFirst)} req/s)`,
    );
    const rps = await load(url, TOTAL - FIRST);
    const cpuMicrosPerRequest = (server.cpuMicros() - cpuBefore) / (TOTAL - WARM_UP);
    const last = await memory(url);
    console.error(
      `round ${number}/${ROUNDS}, ${TOTAL} requests: RSS ${mib(last.rss)} MiB, heap used ${mib(last.heapUsed)} MiB (${Math.round(rps)} req/s)`,
    );
    return { started, first, last, rps, cpuMicrosPerRequest };
  } finally {
    await server.stop();
  }
}

async function main(): Promise<void> {
  const rounds: Round[] = [];
  for (let number = 1; number <= ROUNDS; number++) rounds.push(await round(number));

  const row = (label: string, key: keyof Omit<Memory, 'gc'>, goal: boolean) => {
    const at = (when: 'started' | 'first' | 'last') => formatSpread(spread(rounds.map((r) => r[when][key])), mib);
    // Each round's growth in its own server.
    const growth = spread(rounds.map((r) => r.last[key] / r.first[key]));
    const format = (value: number) => value.toFixed(3);
    return [
      label,
      at('started'),
      at('first'),
      at('last'),
      goal ? formatSpread(growth, format) : comparison(growth, 1, format),
      goal ? goalVerdict(growth, { atMost: 1.1 }) : '',
    ];
  };
  const n = (count: number) => count.toLocaleString('en-US');
  publishReport('memory', `npm run bench:memory${quick ? ' -- --quick' : ''}`, [
    '### Memory: are request contexts released?',
    '',
    `The Threadline service in its own process (every component, ${ENV.THREADLINE_WORKERS} mocker workers), a fresh one each of ${ROUNDS} rounds, ` +
      `\`GET /health\` from autocannon -c ${CONNECTIONS}, each request with an X-Request-Id of its own. ` +
      `Memory read in the server after a forced full GC: at start, after ${n(FIRST)} requests, after ${n(TOTAL)}. ` +
      `${formatSpread(spread(rounds.map((r) => r.rps)), (value) => String(Math.round(value)))} req/s, ` +
      `${formatSpread(spread(rounds.map((r) => r.cpuMicrosPerRequest)), (value) => value.toFixed(1))} µs server CPU per request.`,
    '',
    table(
      ['memory (MiB)', 'at start', `after ${n(FIRST)}`, `after ${n(TOTAL)}`, `${n(TOTAL)} / ${n(FIRST)}`, 'goal'],
      [row('RSS', 'rss', true), row('heap used', 'heapUsed', false), row('external', 'external', false)],
    ),
    '',
    spreadNote(ROUNDS, `"${n(TOTAL)} / ${n(FIRST)}" ranges over each round's own ratio`),
  ]);
}

await main();
process.exit(0);
