/**
 * What request ids cost an HTTP service, counted in CPU instructions rather than timed: the same servers
 * as the req/s benchmark (servers/http-variant.ts), each run under valgrind's callgrind, which counts the
 * instructions the server executes whatever else the machine is doing. They vary far less than timed
 * rounds on a shared machine, but fresh processes of one server still differ from each other by more
 * than some of the differences between servers; so every count comes with the range of its rounds, and
 * a difference whose rounds overlap is called within noise rather than a cost.
 *
 * Each server first serves its warm-up uncounted, on five connections one after another (until V8 has
 * compiled the hot paths, see WARM_UP_CONNECTIONS), then on a sixth WARM_UP_COUNTED_CONNECTION requests
 * uncounted and COUNTED counted, one at a time, so that the count does not depend on how requests happen
 * to batch.
 *
 * Plain Nest, Threadline and the header-only floor, on Fastify and on Express (support/http-platforms.ts);
 * every difference is within one platform. And Threadline with the tracing package as it was before
 * spans (support/tracing-before-spans.ts builds it from git), for the goal that with export off,
 * today's package stays within 1 % of it.
 *
 *   npm run bench:instructions   (3 rounds, about 45 minutes)     npm run bench:instructions -- --quick   (1 round)
 *   npm run bench:instructions -- --variants=express-threadline   (these and their platforms' plain Nest and floor; prints, writes nothing)
 *   npm run bench:instructions -- --keep-dumps   (keeps callgrind's files, with a table of instructions per request by function, JavaScript named)
 *
 * Needs valgrind (`apt-get install valgrind`); without it, it says so and writes nothing.
 */
import autocannon from 'autocannon';
import { hasValgrind, SEMI_SPACE_MIB, startUnderCallgrind } from './support/callgrind-process.js';
import type { InstructionCount } from './support/callgrind-process.js';
import { difference, HTTP_PLATFORMS, platformOf } from './support/http-platforms.js';
import { buildTracingBeforeSpans, TRACING_BEFORE_SPANS_COMMIT } from './support/tracing-before-spans.js';
import { openConnection } from './support/one-connection.js';
import { publishReport, spreadNote } from './support/report.js';
import {
  comparison,
  formatSpread,
  goalVerdict,
  median,
  signed,
  spread,
  table,
  unpairedDifference,
  unpairedRatio,
} from './support/stats.js';

const VARIANTS_FLAG = '--variants=';
const variantsArg = process.argv.find((arg) => arg.startsWith(VARIANTS_FLAG));
const asked = variantsArg?.slice(VARIANTS_FLAG.length).split(',');
/**
 * Each platform's plain Nest, Threadline, Threadline before spans and header-only floor (or those asked
 * for, with their platform's two references).
 */
const ALL_VARIANTS = HTTP_PLATFORMS.filter(
  (platform) => asked === undefined || asked.some((variant) => platformOf(variant) === platform),
).flatMap((platform) =>
  asked === undefined
    ? [platform.baseline, platform.threadline, platform.beforeSpans, platform.floor]
    : [
        platform.baseline,
        ...asked.filter(
          (variant) => platformOf(variant) === platform && variant !== platform.baseline && variant !== platform.floor,
        ),
        platform.floor,
      ],
);
const keepDumps = process.argv.includes('--keep-dumps');
const SCENARIOS = [
  { name: 'no incoming id', headers: {} as Record<string, string> },
  { name: 'incoming id', headers: { 'x-request-id': 'bench-client-request-0001' } },
];
const quick = process.argv.includes('--quick');
const ROUNDS = quick ? 1 : 3;
/**
 * The warm-up: requests on each of its connections, one connection after another. A server's second
 * connection is one V8 has not seen: the objects of its socket and requests take other shapes than the
 * first one's, the code optimised for those deoptimises ("wrong map") and compiles again, and more
 * turns hot again on the connections after it. By the fifth, `--trace-opt` shows next to nothing
 * compiled, under valgrind as outside it; counted earlier, V8's compiling is much of a count and of its
 * spread (bench/README.md, "Instruction counts").
 */
const WARM_UP_CONNECTIONS = [20_000, 5_000, 5_000, 5_000, 5_000];
/**
 * Requests on the counted connection before counting starts: counted from its first request, some fresh
 * processes of any server (plain Nest too) compiled a function of Node's HTTP server inside the window.
 * Warmed first, fewer of them do, not none (bench/README.md, "A compile on the counted connection").
 */
const WARM_UP_COUNTED_CONNECTION = 2_000;
const WARM_UP = WARM_UP_CONNECTIONS.reduce((sum, amount) => sum + amount, WARM_UP_COUNTED_CONNECTION);
const COUNTED = quick ? 3_000 : 6_000;
const SERVER = new URL('./servers/http-variant.js', import.meta.url).pathname;

/** Instructions per request of one server, from a fresh process under callgrind. */
async function instructionsPerRequest(variant: string, headers: Record<string, string>): Promise<InstructionCount> {
  const label = `${variant} (${Object.keys(headers).length > 0 ? 'incoming id' : 'no incoming id'})`;
  const server = await startUnderCallgrind(SERVER, [variant], { keepDumps, label });
  try {
    const url = `http://127.0.0.1:${server.port}/ping`;
    for (const amount of WARM_UP_CONNECTIONS) await load(url, headers, amount);
    const counted = openConnection(url, headers);
    try {
      await counted.send(WARM_UP_COUNTED_CONNECTION);
      return await server.count(() => counted.send(COUNTED), COUNTED);
    } finally {
      counted.close();
    }
  } finally {
    server.stop();
  }
}

async function load(url: string, headers: Record<string, string>, amount: number): Promise<void> {
  const result = await autocannon({ url, connections: 1, amount, headers, timeout: 60 });
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`${result.non2xx} non-2xx, ${result.errors} errors`);
}

async function main(): Promise<void> {
  if (!hasValgrind()) {
    console.log('bench:instructions needs valgrind (apt-get install valgrind); skipped.');
    return;
  }
  const unbuilt = ALL_VARIANTS.some((variant) => variant.endsWith('-before-spans'))
    ? buildTracingBeforeSpans()
    : undefined;
  if (unbuilt !== undefined) console.error(`The tracing package before spans is not counted: ${unbuilt}.`);
  const counted = ALL_VARIANTS.filter((variant) => unbuilt === undefined || !variant.endsWith('-before-spans'));
  const processes = new Map<string, InstructionCount[]>();
  for (let round = 1; round <= ROUNDS; round++) {
    for (const scenario of SCENARIOS) {
      for (const variant of counted) {
        const count = await instructionsPerRequest(variant, scenario.headers);
        const key = `${scenario.name}|${variant}`;
        processes.set(key, [...(processes.get(key) ?? []), count]);
        console.error(
          `round ${round}/${ROUNDS} ${scenario.name} ${variant}: ${Math.round(count.total)} instructions/request, ` +
            `${Math.round(count.slowLiterals)} of them on V8's slow literal path`,
        );
      }
    }
  }
  // Every figure leaves out the processes that took V8's slow literal path (see
  // InstructionCount.slowLiterals): it falls on some fresh processes whatever their server, so it is
  // noise to a comparison of servers, and subtracting its count leaves some of its cost behind.
  const samples = new Map([...processes].map(([key, counts]) => [key, withoutSlowedProcesses(counts)]));
  const rows: string[][] = [];
  for (const platform of HTTP_PLATFORMS) {
    const variants = counted.filter((variant) => platformOf(variant) === platform);
    if (variants.length === 0) continue;
    for (const scenario of SCENARIOS) {
      const baseline = samples.get(`${scenario.name}|${platform.baseline}`)!;
      const floor = samples.get(`${scenario.name}|${platform.floor}`)!;
      for (const variant of variants) {
        const counts = samples.get(`${scenario.name}|${variant}`)!;
        // Unpaired: a round's processes share nothing that moves their counts together.
        rows.push([
          platform.name,
          scenario.name,
          variant,
          formatSpread(spread(counts), (value) => String(Math.round(value))),
          slowLiteralsCell(processes.get(`${scenario.name}|${variant}`)!),
          variant === platform.baseline ? '+0' : comparison(unpairedDifference(counts, baseline), 0, signed(0)),
          variant === platform.floor ? '+0 (+0.0 %)' : difference(unpairedDifference(counts, floor), median(floor)),
          variant === platform.baseline
            ? '1.000'
            : comparison(unpairedRatio(baseline, counts), 1, (value) => value.toFixed(3)),
        ]);
      }
    }
  }
  const results = table(
    [
      'platform',
      'incoming X-Request-Id',
      'server',
      'instructions/request',
      "processes on V8's slow literal path (left out)",
      'vs plain Nest',
      'vs header-only floor',
      'plain Nest ÷ server',
    ],
    rows,
  );
  const exportOff = exportOffTable(samples, processes, counted);
  const note = spreadNote(
    ROUNDS,
    'a difference or ratio between two servers ranges over every pairing of their rounds (rounds are not paired), so it reaches across 0 (or 1.000) exactly where their rounds overlap',
  );
  if (variantsArg) {
    console.log([results, '', ...(exportOff === undefined ? [] : [exportOff, '']), note].join('\n'));
    return;
  }
  publishReport('http-instructions', `npm run bench:instructions${quick ? ' -- --quick' : ''}`, [
    '### HTTP: what request ids cost, in instructions',
    '',
    `The servers of the req/s table, each under valgrind's callgrind in a fresh process: ${WARM_UP} requests uncounted on ${WARM_UP_CONNECTIONS.length + 1} connections one after another, then ` +
      `${COUNTED} counted on the last one, one at a time; median of ${ROUNDS} round(s). Plain Nest, Threadline and the header-only floor on each platform; ` +
      'every difference is within one platform: "vs plain Nest" against `nest` or `express-nest`, "vs header-only floor" against ' +
      '`header-hook` (a Fastify onRequest hook) or `express-header` (an Express middleware) that only sets a generated UUID header. ' +
      '"plain Nest ÷ server" is the throughput a server ' +
      "would have against the same platform's plain Nest if time went with instructions alone (it does not quite: memory and the kernel count too). " +
      `Every server runs with V8's young generation at its full size from the start (--min-semi-space-size=${SEMI_SPACE_MIB}), ` +
      'the size it reaches within its first thousands of requests outside valgrind; under valgrind V8 left it at 1 or 2 MiB in some fresh ' +
      'processes and not in others, whatever the server, and those counted some 6,000 more instructions a request. ' +
      "**V8's slow literal path** is kept out of every figure: some fresh processes, whichever the server (plain Nest too), " +
      "run Node's `process.nextTick` optimised with a call into V8's runtime (`Runtime_DefineKeyedOwnPropertyInLiteral`) where " +
      'the others build its object inline, some 30,000 instructions a request more. The column says how many of a ' +
      "server's processes did and what that function counted in them; a server's figures are those of its other processes " +
      '(were there none, of all, with that count taken out).',
    '',
    results,
    '',
    ...(exportOff === undefined
      ? [
          `The tracing package before spans could not be built here (${unbuilt}): the export-off goal is not counted.`,
          '',
        ]
      : [
          "**Export off.** `threadline` and `express-threadline` are today's package with no span recorder registered (no " +
            'endpoint set, no timeline), the path every request takes with export off. `-before-spans` is the same server with ' +
            `\`@threadline/tracing\` as it was before it made spans (commit ${TRACING_BEFORE_SPANS_COMMIT.slice(0, 7)}, built from git by ` +
            '`bench/support/tracing-before-spans.ts`), counted in the same rounds. The goal is judged without the processes that took the ' +
            'slow literal path; the column before it gives the ratio of all processes, whole counts.',
          '',
          exportOff,
          '',
        ]),
    note,
  ]);
}

/** Today's Threadline against the one before spans, on each platform where both were counted. */
function exportOffTable(
  samples: Map<string, number[]>,
  processes: Map<string, InstructionCount[]>,
  counted: readonly string[],
): string | undefined {
  const rows: string[][] = [];
  for (const platform of HTTP_PLATFORMS) {
    const today = platform.threadline;
    if (!counted.includes(today) || !counted.includes(platform.beforeSpans)) continue;
    for (const scenario of SCENARIOS) {
      const key = (variant: string) => `${scenario.name}|${variant}`;
      const now = samples.get(key(today))!;
      const before = samples.get(key(platform.beforeSpans))!;
      const ratio = unpairedRatio(now, before);
      const totals = (variant: string) => processes.get(key(variant))!.map((count) => count.total);
      rows.push([
        platform.name,
        scenario.name,
        formatSpread(spread(now), (value) => String(Math.round(value))),
        formatSpread(spread(before), (value) => String(Math.round(value))),
        formatSpread(ratio, (value) => value.toFixed(3)),
        formatSpread(unpairedRatio(totals(today), totals(platform.beforeSpans)), (value) => value.toFixed(3)),
        goalVerdict(ratio, { atMost: 1.01 }, (value) => value.toFixed(2)),
      ]);
    }
  }
  if (rows.length === 0) return undefined;
  return table(
    [
      'platform',
      'incoming X-Request-Id',
      'Threadline, export off',
      'Threadline before spans',
      'export off ÷ before spans',
      'the same, every process',
      'goal (within 1 %)',
    ],
    rows,
  );
}

/**
 * The counts of the processes that did not take V8's slow literal path; if every one did, all of them
 * with that path's count taken out.
 */
function withoutSlowedProcesses(counts: readonly InstructionCount[]): number[] {
  const clean = counts.filter((count) => count.slowLiterals < SLOWED_AT);
  return clean.length > 0 ? clean.map((count) => count.total) : counts.map((count) => count.total - count.slowLiterals);
}

/**
 * The processes of a server that took V8's slow literal path, of how many, and what it added a request
 * (the median of those that did); a few hundred instructions a request is the path's ordinary use.
 */
function slowLiteralsCell(counts: readonly InstructionCount[]): string {
  const slowed = counts.filter((count) => count.slowLiterals >= SLOWED_AT);
  if (slowed.length === 0) return `none of ${counts.length}`;
  const added = median(slowed.map((count) => count.slowLiterals));
  return `${slowed.length} of ${counts.length} (+${Math.round(added)})`;
}

/** Instructions a request on V8's slow literal path from which a process is said to have taken it. */
const SLOWED_AT = 1_000;

await main();
