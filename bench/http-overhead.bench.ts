/**
 * What request ids cost an HTTP service: requests per second and server CPU per request of the same
 * tiny route in four servers (see servers/http-variant.ts), with and without an incoming X-Request-Id,
 * measured by autocannon from this process against each server in its own process. Variants run
 * interleaved, round after round; the table reports medians and ratios against plain NestJS.
 *
 *   npm run bench:http               (5 rounds of 8 s)      npm run bench:http -- --quick   (2 rounds of 3 s)
 */
import autocannon from 'autocannon';
import { startServerProcess } from './support/server-process.js';
import { publishReport } from './support/report.js';
import { median, table } from './support/stats.js';

const variantsArg = process.argv.find((arg) => arg.startsWith('--variants='));
const VARIANTS = variantsArg ? ['nest', ...variantsArg.slice(11).split(',')] : ['nest', 'threadline', 'nestjs-cls', 'fastify-context', 'header-hook'];
const SCENARIOS = [
  { name: 'no incoming id', headers: {} as Record<string, string> },
  { name: 'incoming id', headers: { 'x-request-id': 'bench-client-request-0001' } },
];
const quick = process.argv.includes('--quick');
const ROUNDS = quick ? 2 : 5;
const SECONDS = quick ? 3 : 8;
const CONNECTIONS = 50;
const SERVER = new URL('./servers/http-variant.js', import.meta.url).pathname;

interface Sample {
  rps: number;
  cpuMicrosPerRequest: number;
}

async function measure(variant: string, headers: Record<string, string>): Promise<Sample> {
  const server = await startServerProcess(SERVER, [variant]);
  try {
    const url = `http://127.0.0.1:${server.port}/ping`;
    await autocannon({ url, connections: CONNECTIONS, duration: 1, headers }); // warm-up (JIT, pools)
    const cpuBefore = server.cpuMicros();
    const result = await autocannon({ url, connections: CONNECTIONS, duration: SECONDS, headers });
    const cpu = server.cpuMicros() - cpuBefore;
    if (result.non2xx > 0 || result.errors > 0) throw new Error(`${variant}: ${result.non2xx} non-2xx, ${result.errors} errors`);
    return { rps: result.requests.average, cpuMicrosPerRequest: cpu / result.requests.total };
  } finally {
    await server.stop();
  }
}

async function main(): Promise<void> {
  const samples = new Map<string, Sample[]>();
  for (let round = 1; round <= ROUNDS; round++) {
    for (const scenario of SCENARIOS) {
      for (const variant of VARIANTS) {
        const sample = await measure(variant, scenario.headers);
        const key = `${scenario.name}|${variant}`;
        samples.set(key, [...(samples.get(key) ?? []), sample]);
        console.error(`round ${round}/${ROUNDS} ${scenario.name} ${variant}: ${Math.round(sample.rps)} req/s, ${sample.cpuMicrosPerRequest.toFixed(1)} µs CPU/req`);
      }
    }
  }
  const rows: string[][] = [];
  for (const scenario of SCENARIOS) {
    const baseline = median(samples.get(`${scenario.name}|nest`)!.map((s) => s.rps));
    for (const variant of VARIANTS) {
      const list = samples.get(`${scenario.name}|${variant}`)!;
      const rps = median(list.map((s) => s.rps));
      rows.push([scenario.name, variant, String(Math.round(rps)), (rps / baseline).toFixed(2), median(list.map((s) => s.cpuMicrosPerRequest)).toFixed(1)]);
    }
  }
  if (variantsArg) {
    console.log(table(['incoming X-Request-Id', 'server', 'req/s', 'vs plain Nest', 'server CPU µs/req'], rows));
    return;
  }
  publishReport('http-overhead', `npm run bench:http${quick ? ' -- --quick' : ''}`, [
    '### HTTP: what request ids cost',
    '',
    `GET of a tiny JSON route, autocannon -c ${CONNECTIONS} for ${SECONDS} s per sample from a separate process; ` +
      `median of ${ROUNDS} interleaved rounds. CPU is the server process's user+system time per request, from /proc.`,
    '',
    table(['incoming X-Request-Id', 'server', 'req/s', 'vs plain Nest', 'server CPU µs/req'], rows),
  ]);
}

await main();
