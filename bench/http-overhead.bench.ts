/**
 * What request ids cost an HTTP service: requests per second and server CPU per request of the same
 * tiny route in ten servers (see servers/http-variant.ts), six on Fastify and four on Express, with and
 * without an incoming X-Request-Id, measured by autocannon from this process against each server in its
 * own process. Variants of both platforms run interleaved, round after round; the table reports medians
 * and ratios against plain NestJS and against the header-only floor of the same platform, each with the
 * range of its rounds, and calls a ratio whose rounds fall on both sides of 1.00 "within noise".
 *
 *   npm run bench:http               (9 rounds of 4 s, about 16 minutes)      npm run bench:http -- --quick   (2 rounds of 1 s, without express-header)
 *   npm run bench:http -- --variants=threadline,express-threadline   (these and their platforms' plain Nest only; prints, writes nothing)
 */
import autocannon from 'autocannon';
import { pinLoadGeneratorAwayFromServers } from './support/cpu-pinning.js';
import { HTTP_PLATFORMS, platformOf } from './support/http-platforms.js';
import { startServerProcess } from './support/server-process.js';
import type { ServerProcess } from './support/server-process.js';
import { publishReport, spreadNote } from './support/report.js';
import { comparison, formatSpread, spread, table } from './support/stats.js';

const quick = process.argv.includes('--quick');
/**
 * Servers the quick pass leaves out (its report says so), to stay about a minute with both platforms in
 * it: Express's header-only floor, which the instruction counts (not part of the quick pass) measure against.
 */
const QUICK_LEAVES_OUT = new Set<string>(['express-header']);
const VARIANTS_FLAG = '--variants=';
const variantsArg = process.argv.find((arg) => arg.startsWith(VARIANTS_FLAG));
const VARIANTS = variantsArg
  ? withBaselines(variantsArg.slice(VARIANTS_FLAG.length).split(','))
  : HTTP_PLATFORMS.flatMap((platform) => platform.variants).filter(
      (variant) => !(quick && QUICK_LEAVES_OUT.has(variant)),
    );
const LEFT_OUT = variantsArg
  ? []
  : HTTP_PLATFORMS.flatMap((platform) => platform.variants).filter((variant) => !VARIANTS.includes(variant));
const SCENARIOS = [
  { name: 'no incoming id', headers: {} as Record<string, string> },
  { name: 'incoming id', headers: { 'x-request-id': 'bench-client-request-0001' } },
];
const ROUNDS = quick ? 2 : 9;
const SECONDS = quick ? 1 : 4;
const WARM_UP_SECONDS = quick ? 1 : 2;
/** Warm-up loads, each on fresh connections (see `warmUp`). */
const WARM_UP_LOADS = 2;
const CONNECTIONS = 50;
const SERVER = new URL('./servers/http-variant.js', import.meta.url).pathname;

/** The variants asked for, each platform's plain Nest first. */
function withBaselines(asked: readonly string[]): string[] {
  const platforms = HTTP_PLATFORMS.filter((platform) => asked.some((variant) => platformOf(variant) === platform));
  return platforms.flatMap((platform) =>
    platform.variants.filter((variant) => variant === platform.baseline || asked.includes(variant)),
  );
}

interface Sample {
  rps: number;
  cpuMicrosPerRequest: number;
}

async function measure(server: ServerProcess, headers: Record<string, string>, seconds: number): Promise<Sample> {
  const url = `http://127.0.0.1:${server.port}/ping`;
  const cpuBefore = server.cpuMicros();
  const result = await autocannon({ url, connections: CONNECTIONS, duration: seconds, headers });
  const cpu = server.cpuMicros() - cpuBefore;
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`${result.non2xx} non-2xx, ${result.errors} errors`);
  return { rps: result.requests.average, cpuMicrosPerRequest: cpu / result.requests.total };
}

/**
 * JIT, pools: loads of both scenarios' requests in turn, since every autocannon run lasts whole seconds,
 * however few requests it is given. Each load opens fresh connections, and a server's second set of
 * connections is one V8 has not seen: code optimised for the first deoptimises and compiles again
 * (bench/README.md, "V8 compiling inside the window"). Warmed on one set, a server did that inside
 * the first window it was measured in; warmed on two, its measured sets find it done.
 */
async function warmUp(server: ServerProcess): Promise<void> {
  const requests = SCENARIOS.map((scenario) => ({ method: 'GET' as const, path: '/ping', headers: scenario.headers }));
  for (let load = 0; load < WARM_UP_LOADS; load++) {
    await autocannon({
      url: `http://127.0.0.1:${server.port}`,
      connections: CONNECTIONS,
      duration: WARM_UP_SECONDS,
      requests,
    });
  }
}

/**
 * Each round starts a fresh process per server, warms each up, then measures them one after another,
 * starting with another server each round: short interleaved samples spread the shared machine's noise
 * over the variants, and fresh processes keep one server's long-run drift (a JIT or GC state reached
 * after a few hundred thousand requests, seen in long-lived processes) from biasing every round.
 */
async function main(): Promise<void> {
  const serverCpu = pinLoadGeneratorAwayFromServers();
  const samples = new Map<string, Sample[]>();
  for (let round = 1; round <= ROUNDS; round++) {
    const servers = new Map<string, ServerProcess>();
    try {
      // Started side by side; the finally below stops those that did start should another fail.
      const started = await Promise.allSettled(
        VARIANTS.map((variant) => startServerProcess(SERVER, [variant], {}, [], serverCpu)),
      );
      started.forEach((result, i) => result.status === 'fulfilled' && servers.set(VARIANTS[i]!, result.value));
      const failed = started.find((result) => result.status === 'rejected');
      if (failed) throw failed.reason;
      for (const server of servers.values()) {
        await warmUp(server);
      }
      for (const scenario of SCENARIOS) {
        for (const variant of rotate(VARIANTS, round)) {
          const sample = await measure(servers.get(variant)!, scenario.headers, SECONDS);
          const key = `${scenario.name}|${variant}`;
          samples.set(key, [...(samples.get(key) ?? []), sample]);
          console.error(
            `round ${round}/${ROUNDS} ${scenario.name} ${variant}: ${Math.round(sample.rps)} req/s, ${sample.cpuMicrosPerRequest.toFixed(1)} µs CPU/req`,
          );
        }
      }
    } finally {
      await Promise.all([...servers.values()].map((server) => server.stop()));
    }
  }
  const rows: string[][] = [];
  for (const platform of HTTP_PLATFORMS) {
    const variants = VARIANTS.filter((variant) => platformOf(variant) === platform);
    if (variants.length === 0) continue;
    for (const scenario of SCENARIOS) {
      const baseline = samples.get(`${scenario.name}|${platform.baseline}`)!;
      const floor = samples.get(`${scenario.name}|${platform.floor}`);
      for (const variant of variants) {
        const list = samples.get(`${scenario.name}|${variant}`)!;
        // Paired: each round's sample against another server's of the same round, which saw the same machine.
        const against = (other: Sample[], reference: string) =>
          variant === reference
            ? '1.00'
            : comparison(spread(list.map((sample, round) => sample.rps / other[round]!.rps)), 1, (value) =>
                value.toFixed(2),
              );
        const rps = formatSpread(spread(list.map((s) => s.rps)), (value) => String(Math.round(value)));
        const cpu = formatSpread(spread(list.map((s) => s.cpuMicrosPerRequest)), (value) => value.toFixed(1));
        rows.push([
          platform.name,
          scenario.name,
          variant,
          rps,
          against(baseline, platform.baseline),
          floor ? against(floor, platform.floor) : '',
          cpu,
        ]);
      }
    }
  }
  const results = table(
    [
      'platform',
      'incoming X-Request-Id',
      'server',
      'req/s',
      'vs plain Nest',
      'vs header-only floor',
      'server CPU µs/req',
    ],
    rows,
  );
  if (variantsArg) {
    console.log([results, '', spreadNote(ROUNDS)].join('\n'));
    return;
  }
  publishReport('http-overhead', `npm run bench:http${quick ? ' -- --quick' : ''}`, [
    '### HTTP: what request ids cost',
    '',
    `GET of a tiny JSON route, autocannon -c ${CONNECTIONS} for ${SECONDS} s per sample from a separate process; ` +
      `${ROUNDS} interleaved rounds, each with fresh server processes and starting with another server. req/s and CPU are medians of rounds; ` +
      'Fastify and Express servers run in the same rounds; every ratio is within one platform. ' +
      '"vs plain Nest" is the median of the rounds\' ratios (each sample against the same platform\'s plain Nest, `nest` or `express-nest`, of the same round), ' +
      '"vs header-only floor" the same against the platform\'s header-only floor (`header-hook`, a Fastify onRequest hook, or `express-header`, ' +
      'an Express middleware), the least any design that answers with the id can do there; ' +
      '"nest-again" is plain Nest on Fastify in a second process, so its ratio shows how far apart identical servers measure. ' +
      (LEFT_OUT.length > 0 ? `This quick pass left out ${LEFT_OUT.join(', ')} (the full run has them). ` : '') +
      "CPU is the server process's user+system time per request, from /proc. " +
      (serverCpu === undefined
        ? 'Servers and load generator were left to the scheduler (no taskset, or one CPU).'
        : `Every server ran on CPU ${serverCpu} only and the load generator on CPU 0 (taskset), so that they never shared one.`),
    '',
    results,
    '',
    spreadNote(ROUNDS, "a ratio's range is that of the rounds' own ratios"),
  ]);
}

function rotate<T>(items: readonly T[], by: number): T[] {
  const start = by % items.length;
  return [...items.slice(start), ...items.slice(0, start)];
}

await main();
