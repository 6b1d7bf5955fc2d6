/**
 * Whether request contexts are released: the Threadline service (servers/threadline-service.ts, its
 * own process, started with --expose-gc) takes `GET /health` requests from autocannon, each with an
 * incoming X-Request-Id of its own (autocannon's id replacement), and its resident set size is read
 * (`GET /__rss`, after a full garbage collection) at 100,000 requests and again at 1,000,000. A service
 * that keeps anything per request grows between the two; the goal is RSS(1M) / RSS(100k) ≤ 1.10.
 * Heap used is reported too: it shows a leak of JS objects more plainly than the RSS does.
 *
 *   npm run bench:memory             (100,000 then 1,000,000 requests)
 *   npm run bench:memory -- --quick  (10,000 then 100,000)
 */
import autocannon from 'autocannon';
import { publishReport } from './support/report.js';
import { startServerProcess } from './support/server-process.js';
import { table } from './support/stats.js';

const quick = process.argv.includes('--quick');
const FIRST = quick ? 10_000 : 100_000;
const TOTAL = quick ? 100_000 : 1_000_000;
const WARM_UP = 5_000;
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

async function main(): Promise<void> {
  const server = await startServerProcess(SERVER, [], ENV, ['--expose-gc']);
  try {
    const url = `http://127.0.0.1:${server.port}`;
    // The ids really are per request and echoed: two requests, two different ids.
    const echoed = await Promise.all(
      ['bench-mem-check-1', 'bench-mem-check-2'].map(async (id) => (await fetch(`${url}/health`, { headers: { 'x-request-id': id } })).headers.get('x-request-id')),
    );
    if (echoed[0] !== 'bench-mem-check-1' || echoed[1] !== 'bench-mem-check-2') throw new Error(`ids not echoed: ${echoed.join(', ')}`);

    const started = await memory(url);
    await load(url, WARM_UP);
    const cpuBefore = server.cpuMicros();
    const rpsFirst = await load(url, FIRST - WARM_UP);
    const first = await memory(url);
    console.error(`${FIRST} requests: RSS ${mib(first.rss)} MiB, heap used ${mib(first.heapUsed)} MiB (${Math.round(rpsFirst)} req/s)`);
    const rpsRest = await load(url, TOTAL - FIRST);
    const cpuMicrosPerRequest = (server.cpuMicros() - cpuBefore) / (TOTAL - WARM_UP);
    const last = await memory(url);
    console.error(`${TOTAL} requests: RSS ${mib(last.rss)} MiB, heap used ${mib(last.heapUsed)} MiB (${Math.round(rpsRest)} req/s)`);

    const row = (label: string, key: keyof Omit<Memory, 'gc'>, goal: string) => [
      label,
      mib(started[key]),
      mib(first[key]),
      mib(last[key]),
      (last[key] / first[key]).toFixed(3),
      goal,
    ];
    const n = (count: number) => count.toLocaleString('en-US');
    publishReport('memory', `npm run bench:memory${quick ? ' -- --quick' : ''}`, [
      '### Memory: are request contexts released?',
      '',
      `The Threadline service in its own process (every component, ${ENV.THREADLINE_WORKERS} mocker workers), ` +
        `\`GET /health\` from autocannon -c ${CONNECTIONS}, each request with an X-Request-Id of its own. ` +
        `Memory read in the server after a forced full GC: at start, after ${n(FIRST)} requests, after ${n(TOTAL)}. ` +
        `${Math.round(rpsRest)} req/s, ${cpuMicrosPerRequest.toFixed(1)} µs server CPU per request.`,
      '',
      table(
        ['memory (MiB)', 'at start', `after ${n(FIRST)}`, `after ${n(TOTAL)}`, `${n(TOTAL)} / ${n(FIRST)}`, 'goal'],
        [row('RSS', 'rss', '≤ 1.10'), row('heap used', 'heapUsed', ''), row('external', 'external', '')],
      ),
    ]);
  } finally {
    await server.stop();
  }
}

await main();
process.exit(0);
