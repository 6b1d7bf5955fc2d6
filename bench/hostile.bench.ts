/**
 * Hostile input: what one adversarial 1 MiB prompt a second does to everyone else. The Threadline
 * service (servers/threadline-service.js, its own process, fresh for every run) takes a steady open-loop
 * load of ordinary small requests from this process: `GET /health` and a small non-streaming chat
 * completion, sent at a fixed rate whatever the answers do, each latency counted from the moment the
 * request was due (so a stalled server is not hidden by a client that waits for it). In the adversary
 * run, one 1 MiB chat prompt arrives every second besides, alternately a single ASCII character
 * repeated and a single CJK character repeated (1 MiB of UTF-8 each), sent without waiting for the
 * previous one. The two runs alternate round by round; the table reports medians of rounds of each
 * run's p50 and p99, and p99 with / p99 without (goal: ≤ 2.00). Three scenarios:
 *   - refused: THREADLINE_MAX_MODEL_LEN at its default (8192): the prompts cannot fit, and the size
 *     alone shows it, so they are refused (400 context_length_exceeded) without being tokenized;
 *   - tokenized: THREADLINE_MAX_MODEL_LEN 1,000,000: the prompts fit, so they are tokenized (in the
 *     tokenizer thread pool) and run through the mocker, with max_tokens 1;
 *   - large bodies: instead of the 1 MiB prompts, a flood of FLOOD_CONNECTIONS chat requests of
 *     FLOOD_BODY_BYTES each kept in flight by another process (support/large-body-flood.ts), at the
 *     default limits. Goals: `GET /health` answers within 100 ms throughout (its slowest answer) and
 *     the server's resident memory stays under 1 GiB (its peak, read from /proc every 50 ms).
 *   - overload: a fresh server each round and no steady load: 10,000 small chat completions and 1,000
 *     `GET /health` probes among them, all sent at once by another process (support/overload-scenario.ts).
 *     Goal: a refusal's p99 at most 2x that of `GET /health` in the same flood.
 *   - slow bodies: a fresh server with its open-file limit at 4096 and no steady load: 4,200 connections
 *     sending their bodies a byte a second (support/slow-body-scenario.ts), and a new client every 100 ms.
 *     Goal: new clients are served again within the body timeout.
 * Every run's warm-up sends one prompt of each kind, in both runs, so both measure a server whose
 * tokenizer thread has started. The servers are not pinned to a CPU: on 2 cores the tokenizer thread
 * needs the core the event loop is not on.
 *
 *   npm run bench:hostile               (5 rounds)     npm run bench:hostile -- --quick   (1 round, short)
 *   npm run bench:hostile -- --scenario tokenized      (one scenario, printed only: refused, tokenized, "large bodies", overload, "slow bodies")
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { publishReport, spreadNote } from './support/report.js';
import { measureOverload, overloadLine, overloadReport } from './support/overload-scenario.js';
import type { OverloadSample } from './support/overload-scenario.js';
import { measureSlowBodies, slowBodyLine, slowBodyReport } from './support/slow-body-scenario.js';
import type { SlowBodySample } from './support/slow-body-scenario.js';
import { cpuMicros, startServerProcess } from './support/server-process.js';
import { formatSpread, goalVerdict, median, percentile, spread, table } from './support/stats.js';

const quick = process.argv.includes('--quick');
/** `--scenario <name>`: that scenario alone (a look at one case; the report then holds only it). */
const onlyScenario = process.argv.includes('--scenario')
  ? process.argv[process.argv.indexOf('--scenario') + 1]
  : undefined;
const ROUNDS = quick ? 1 : 5;
const WINDOW_MS = quick ? 2_000 : 10_000;
const WARM_UP_MS = quick ? 1_000 : 2_000;
const HEALTH_PER_SECOND = 200;
const CHAT_PER_SECOND = 100;
const CHAT_MAX_TOKENS = 8;
const ADVERSARY_EVERY_MS = 1_000;
const PROMPT_BYTES = 2 ** 20;
const FLOOD_CONNECTIONS = 160;
const FLOOD_BODY_BYTES = Math.round(3.9 * 2 ** 20);
const HEALTH_MAX_GOAL_MS = 100;
const RSS_GOAL_MIB = 1024;
const FLOOD = new URL('./support/large-body-flood.js', import.meta.url).pathname;
const MODEL = 'threadline-mocker';
const SERVER = new URL('./servers/threadline-service.js', import.meta.url).pathname;
const BASE_ENV = {
  THREADLINE_WORKERS: '2',
  // Small delays, so that a stall of the event loop shows against the chat's own time.
  MOCKER_DECODE_MS_PER_TOKEN: '1',
  MOCKER_PREFILL_US_PER_TOKEN: '1',
  LOG_LEVEL: 'error',
  LOG_REQUESTS: 'false',
};
const SCENARIOS = [
  { name: 'refused', env: {}, adversary: 'prompts' },
  { name: 'tokenized', env: { THREADLINE_MAX_MODEL_LEN: '1000000' }, adversary: 'prompts' },
  { name: 'large bodies', env: {}, adversary: 'flood' },
  { name: 'overload', env: {}, adversary: 'overload' },
  { name: 'slow bodies', env: {}, adversary: 'slow bodies' },
] as const;
type Scenario = (typeof SCENARIOS)[number];
const CHOSEN = SCENARIOS.filter((scenario) => onlyScenario === undefined || scenario.name === onlyScenario);
const RUNS = ['alone', 'adversary'] as const;
type Run = (typeof RUNS)[number];
const KINDS = ['health', 'chat'] as const;
type Kind = (typeof KINDS)[number];
const PROMPTS = ['ascii', 'cjk'] as const;
type PromptKind = (typeof PROMPTS)[number];

interface Answer {
  status: number; // 0: the request failed
  ms: number;
  /** It went out on a connection of its own, opened for it, not on one kept alive. */
  newConnection?: boolean;
}

interface FloodResult {
  statuses: Record<string, number>;
  ms: number[];
}

interface Sample {
  latencies: Record<Kind, number[]>;
  failed: Record<Kind, number>;
  adversarial: Array<Answer & { prompt: PromptKind }>;
  /** What the flood's requests got, in the large-bodies scenario's adversary run. */
  flood?: FloodResult;
  /** The slowest `GET /health` answered, and whether it had to open a connection. */
  slowestHealth?: Required<Pick<Answer, 'ms' | 'newConnection'>>;
  /** The server's peak resident memory during the window, in bytes. */
  peakRssBytes: number;
  /** CPU the rest of the machine used during the window (not the server, not this process), in cores. */
  othersCores: number;
}

/** CPU time used by the whole machine so far, in microseconds (/proc/stat: every state but idle and iowait). */
function machineCpuMicros(): number {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const busy = fields.reduce((sum, value) => sum + value, 0) - fields[3]! - fields[4]!;
  return (busy / 100) * 1e6; // USER_HZ
}

const ownCpuMicros = () => {
  const { user, system } = process.cpuUsage();
  return user + system;
};

/** A process's resident memory now, in bytes (/proc/<pid>/status, VmRSS). */
function rssBytes(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match === null ? 0 : Number(match[1]) * 1024;
}

/** The flood of large bodies, in its own process, until `stop` is called; resolves once it floods. */
async function startFlood(port: number): Promise<{ cpuMicros: () => number; stop: () => Promise<FloodResult> }> {
  const child = spawn(process.execPath, [FLOOD, String(port), String(FLOOD_CONNECTIONS), String(FLOOD_BODY_BYTES)], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  await new Promise<void>((resolve, reject) => {
    child.stderr.on('data', (chunk: Buffer) => String(chunk).includes('FLOODING') && resolve());
    child.once('exit', (code) => reject(new Error(`the flood exited with ${code} before it began`)));
  });
  return {
    cpuMicros: () => cpuMicros(child.pid!),
    stop: () =>
      new Promise((resolve, reject) => {
        child.once('exit', (code) =>
          code === 0 ? resolve(JSON.parse(out) as FloodResult) : reject(new Error(`the flood exited with ${code}`)),
        );
        child.stdin.end();
      }),
  };
}

const chatBody = (content: string, maxTokens: number) =>
  Buffer.from(JSON.stringify({ model: MODEL, messages: [{ role: 'user', content }], max_tokens: maxTokens }));

const SMALL_CHAT = chatBody('Say hello to the sea.', CHAT_MAX_TOKENS);
const HOSTILE: Record<PromptKind, Buffer> = {
  ascii: chatBody('a'.repeat(PROMPT_BYTES), 1),
  cjk: chatBody('漢'.repeat(Math.floor(PROMPT_BYTES / 3)), 1), // 3 UTF-8 bytes each
};

/** One request; its answer read to the end; latency from `due` (performance.now() time). */
function send(
  agent: Agent,
  port: number,
  method: 'GET' | 'POST',
  path: string,
  body: Buffer | undefined,
  due: number,
): Promise<Answer> {
  return new Promise((resolve) => {
    const req = request(
      {
        agent,
        host: '127.0.0.1',
        port,
        method,
        path,
        headers: body === undefined ? {} : { 'content-type': 'application/json', 'content-length': body.length },
      },
      (res) => {
        res.on('data', () => {});
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, ms: performance.now() - due, newConnection: !req.reusedSocket }),
        );
        res.on('error', () => resolve({ status: 0, ms: performance.now() - due }));
      },
    );
    req.on('error', () => resolve({ status: 0, ms: performance.now() - due }));
    req.end(body);
  });
}

/**
 * The steady load for `ms`: requests due at a fixed rate, every third a chat, the others health checks,
 * each sent when due (checked every millisecond) whatever the earlier ones are doing. With `adversary`,
 * a 1 MiB prompt every second besides. Calls `windowEnded` once the last request is sent, and resolves
 * when every request sent has its answer.
 */
async function load(
  port: number,
  ms: number,
  adversary: boolean,
  record: Sample | undefined,
  windowEnded: () => Promise<void> = async () => {},
): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const hostileAgent = new Agent({ keepAlive: true, maxSockets: 16 });
  const pending: Array<Promise<void>> = [];
  const perSecond = HEALTH_PER_SECOND + CHAT_PER_SECOND;
  const every = 1000 / perSecond;
  const chatEvery = Math.round(perSecond / CHAT_PER_SECOND);
  const start = performance.now();
  let sent = 0;
  let hostileSent = 0;
  for (;;) {
    const now = performance.now();
    if (now - start >= ms) break;
    for (let due = start + sent * every; due <= now; due = start + sent * every) {
      const kind: Kind = sent % chatEvery === 0 ? 'chat' : 'health';
      sent++;
      const answer =
        kind === 'chat'
          ? send(agent, port, 'POST', '/v1/chat/completions', SMALL_CHAT, due)
          : send(agent, port, 'GET', '/health', undefined, due);
      pending.push(
        answer.then(({ status, ms: latency, newConnection = false }) => {
          if (record === undefined) return;
          if (status === 200) record.latencies[kind].push(latency);
          else record.failed[kind]++;
          if (status === 200 && kind === 'health' && !(latency <= (record.slowestHealth?.ms ?? -1)))
            record.slowestHealth = { ms: latency, newConnection };
        }),
      );
    }
    // The first half a second in: the load is steady by then.
    for (
      let due = start + ADVERSARY_EVERY_MS / 2 + hostileSent * ADVERSARY_EVERY_MS;
      adversary && due <= now;
      due += ADVERSARY_EVERY_MS
    ) {
      const prompt = PROMPTS[hostileSent % PROMPTS.length]!;
      hostileSent++;
      pending.push(
        send(hostileAgent, port, 'POST', '/v1/chat/completions', HOSTILE[prompt], due).then(
          (answer) => void record?.adversarial.push({ ...answer, prompt }),
        ),
      );
    }
    await sleep(1);
  }
  await windowEnded();
  await Promise.all(pending);
  agent.destroy();
  hostileAgent.destroy();
}

async function measure(scenario: Scenario, run: Run): Promise<Sample> {
  const server = await startServerProcess(SERVER, [], { ...BASE_ENV, ...scenario.env });
  try {
    // Warm-up, the same in both runs: one prompt of each kind (the tokenizer thread starts on the
    // first long prompt), then the steady load alone.
    const hostileAgent = new Agent({ keepAlive: false });
    for (const prompt of PROMPTS)
      await send(hostileAgent, server.port, 'POST', '/v1/chat/completions', HOSTILE[prompt], performance.now());
    await load(server.port, WARM_UP_MS, false, undefined);
    const sample: Sample = {
      latencies: { health: [], chat: [] },
      failed: { health: 0, chat: 0 },
      adversarial: [],
      othersCores: 0,
      peakRssBytes: 0,
    };
    const flood = run === 'adversary' && scenario.adversary === 'flood' ? await startFlood(server.port) : undefined;
    const pid = server.child.pid!;
    const rssWatch = setInterval(() => (sample.peakRssBytes = Math.max(sample.peakRssBytes, rssBytes(pid))), 50);
    const floodCpu = () => flood?.cpuMicros() ?? 0;
    const before = {
      machine: machineCpuMicros(),
      server: server.cpuMicros(),
      own: ownCpuMicros(),
      flood: floodCpu(),
      at: performance.now(),
    };
    let others = 0;
    let windowMs = 0;
    // At the window's end: the CPU figures are taken and the flood stops, so that requests it held up
    // are answered (their latency counts from when they were due) and the run ends.
    const windowEnded = async () => {
      clearInterval(rssWatch);
      const ours = server.cpuMicros() - before.server + (ownCpuMicros() - before.own) + (floodCpu() - before.flood);
      others = machineCpuMicros() - before.machine - ours;
      windowMs = performance.now() - before.at;
      if (flood !== undefined) sample.flood = await flood.stop();
    };
    await load(server.port, WINDOW_MS, run === 'adversary' && scenario.adversary === 'prompts', sample, windowEnded);
    sample.othersCores = Math.max(0, others / (windowMs * 1000));
    return sample;
  } finally {
    await server.stop();
  }
}

const ms = (value: number) => (value >= 100 ? value.toFixed(0) : value.toFixed(1));
const mib = (bytes: number) => Math.round(bytes / 2 ** 20).toLocaleString('en-US');

function floodAnswers(flood: FloodResult): Answer[] {
  return Object.entries(flood.statuses).flatMap(([status, count]) =>
    Array.from({ length: count }, () => ({ status: Number(status), ms: 0 })),
  );
}

function statuses(answers: readonly Answer[]): string {
  const counts = new Map<number, number>();
  for (const { status } of answers) counts.set(status, (counts.get(status) ?? 0) + 1);
  return [...counts]
    .sort(([a], [b]) => a - b)
    .map(([status, count]) => `${status === 0 ? 'failed' : status} ×${count}`)
    .join(', ');
}

async function main(): Promise<void> {
  const samples = new Map<string, Sample[]>();
  const key = (scenario: string, run: Run) => `${scenario}/${run}`;
  const overloadSamples: OverloadSample[] = [];
  const slowBodySamples: SlowBodySample[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    for (const scenario of CHOSEN) {
      if (scenario.adversary === 'overload') {
        const sample = await measureOverload(SERVER, BASE_ENV);
        overloadSamples.push(sample);
        console.error(`round ${round}/${ROUNDS} overload: ${overloadLine(sample)}`);
        continue;
      }
      if (scenario.adversary === 'slow bodies') {
        const sample = await measureSlowBodies(SERVER, BASE_ENV);
        slowBodySamples.push(sample);
        console.error(`round ${round}/${ROUNDS} slow bodies: ${slowBodyLine(sample)}`);
        continue;
      }
      // Alternate which run goes first, so neither always gets the cooler machine.
      for (const run of round % 2 === 1 ? RUNS : [...RUNS].reverse()) {
        const sample = await measure(scenario, run);
        samples.set(key(scenario.name, run), [...(samples.get(key(scenario.name, run)) ?? []), sample]);
        const hostile =
          sample.adversarial.length === 0
            ? ''
            : `; adversarial: ${statuses(sample.adversarial)}, median ${ms(median(sample.adversarial.map((a) => a.ms)))} ms`;
        console.error(
          `round ${round}/${ROUNDS} ${scenario.name} ${run}: ` +
            KINDS.map(
              (kind) =>
                `${kind} p50 ${ms(percentile(sample.latencies[kind], 50))} p99 ${ms(percentile(sample.latencies[kind], 99))} ms (${sample.failed[kind]} failed)`,
            ).join(', ') +
            hostile +
            (sample.flood === undefined ? '' : `; flood: ${statuses(floodAnswers(sample.flood))}`) +
            `; health max ${ms(Math.max(...sample.latencies.health))} ms` +
            `${sample.slowestHealth?.newConnection === true ? ' (on a new connection)' : ''}; peak RSS ${mib(sample.peakRssBytes)} MiB` +
            `; other processes ${sample.othersCores.toFixed(2)} cores`,
        );
      }
    }
  }

  const rows: string[][] = [];
  const hostileRows: string[][] = [];
  const floodRows: string[][] = [];
  for (const scenario of CHOSEN) {
    if (scenario.adversary === 'overload' || scenario.adversary === 'slow bodies') continue;
    // Per round: the runs of a round were interleaved, so a ratio is taken round by round.
    const perRound = (run: Run, kind: Kind, p: number) =>
      samples.get(key(scenario.name, run))!.map((s) => percentile(s.latencies[kind], p));
    const of = (run: Run, kind: Kind, p: number) => formatSpread(spread(perRound(run, kind, p)), ms);
    const failed = (run: Run, kind: Kind) =>
      samples.get(key(scenario.name, run))!.reduce((sum, s) => sum + s.failed[kind], 0);
    for (const kind of KINDS) {
      const alone = perRound('alone', kind, 99);
      const ratio = spread(perRound('adversary', kind, 99).map((p99, round) => p99 / alone[round]!));
      rows.push([
        scenario.name,
        kind === 'health' ? '`GET /health`' : `chat, max_tokens ${CHAT_MAX_TOKENS}`,
        of('alone', kind, 50),
        of('adversary', kind, 50),
        of('alone', kind, 99),
        of('adversary', kind, 99),
        formatSpread(ratio, (value) => value.toFixed(2)),
        `${failed('alone', kind)} / ${failed('adversary', kind)}`,
        // The 2x goal is the 1 MiB prompt's; the flood has goals of its own (its table, below).
        scenario.adversary === 'prompts' ? goalVerdict(ratio, { atMost: 2 }) : "none (the flood's: below)",
      ]);
    }
    const adversarySamples = samples.get(key(scenario.name, 'adversary'))!;
    if (scenario.adversary === 'flood') {
      const healthMax = spread(adversarySamples.map((s) => Math.max(...s.latencies.health)));
      const peakRss = spread(adversarySamples.map((s) => s.peakRssBytes / 2 ** 20));
      const floods = adversarySamples.map((s) => s.flood!);
      const onNewConnection = adversarySamples.filter((s) => s.slowestHealth?.newConnection === true).length;
      floodRows.push([
        statuses(floods.flatMap(floodAnswers)),
        ms(median(floods.flatMap((f) => f.ms))),
        formatSpread(healthMax, ms),
        `${onNewConnection} of ${adversarySamples.length}`,
        formatSpread(peakRss, (value) => value.toFixed(0)),
        `${goalVerdict(healthMax, { atMost: HEALTH_MAX_GOAL_MS }, String)}; ${goalVerdict(peakRss, { atMost: RSS_GOAL_MIB }, String)}`,
      ]);
      continue;
    }
    const adversarial = adversarySamples.flatMap((s) => s.adversarial);
    for (const prompt of PROMPTS) {
      const answers = adversarial.filter((a) => a.prompt === prompt);
      const latencies = answers.map((a) => a.ms);
      hostileRows.push([
        scenario.name,
        prompt === 'ascii' ? '`a` × 1,048,576' : '`漢` × 349,525',
        statuses(answers),
        ms(median(latencies)),
        ms(percentile(latencies, 99)),
        ms(Math.max(...latencies)),
      ]);
    }
  }

  const allSamples = [...samples.values()].flat();
  const perRound = (WINDOW_MS / 1000) * (HEALTH_PER_SECOND + CHAT_PER_SECOND);
  // One scenario alone is a look, not a result: printed, not published.
  const report =
    onlyScenario === undefined
      ? publishReport
      : (_name: string, _command: string, lines: readonly string[]) => console.log(lines.join('\n'));
  report('hostile', `npm run bench:hostile${quick ? ' -- --quick' : ''}`, [
    '### Hostile input: ordinary requests beside a 1 MiB prompt a second',
    '',
    `The service in its own process (fresh for every run, ${BASE_ENV.THREADLINE_WORKERS} mocker workers, decode ${BASE_ENV.MOCKER_DECODE_MS_PER_TOKEN} ms/token, ` +
      `prefill ${BASE_ENV.MOCKER_PREFILL_US_PER_TOKEN} µs/token, the default tokenizer threads), an open-loop load from this process: ` +
      `${HEALTH_PER_SECOND} \`GET /health\` and ${CHAT_PER_SECOND} non-streaming chat completions a second, each sent when due, its latency ` +
      `counted from then, for ${WINDOW_MS / 1000} s a run (about ${perRound.toLocaleString('en-US')} requests) after ${WARM_UP_MS / 1000} s of warm-up. ` +
      `Alone: that load only. Adversary: the same load and, every second, one 1 MiB chat prompt (max_tokens 1), alternately one ASCII ` +
      `character repeated and one CJK character repeated (1 MiB of UTF-8 each), not waiting for the previous one. ` +
      `Refused: THREADLINE_MAX_MODEL_LEN at its default, 8192; the prompts' size alone shows they cannot fit. Tokenized: ` +
      `THREADLINE_MAX_MODEL_LEN 1,000,000, the prompts fit and are tokenized (131,072 and 349,525 tokens) and run. ` +
      `Milliseconds, each run's percentiles over its rounds; "failed" counts answers other than 200 (alone / adversary, all rounds). ` +
      spreadNote(ROUNDS, 'the ratio is taken round by round') +
      ' ' +
      `The rest of the machine used ${median(allSamples.map((s) => s.othersCores)).toFixed(2)} of its cores in the median run, ${Math.max(...allSamples.map((s) => s.othersCores)).toFixed(2)} at most: a p99 moves with that.`,
    '',
    table(
      [
        'scenario',
        'request',
        'p50 alone',
        'p50 adversary',
        'p99 alone',
        'p99 adversary',
        'p99 adversary / alone',
        'failed',
        'goal',
      ],
      rows,
    ),
    '',
    `What the adversarial prompts got (all rounds; latency from sending to the answer's end, ms):`,
    '',
    table(['scenario', 'prompt', 'answers', 'median', 'p99', 'max'], hostileRows),
    '',
    `Large bodies: ${FLOOD_CONNECTIONS} chat requests of ${(FLOOD_BODY_BYTES / 2 ** 20).toFixed(1)} MiB each kept in flight by another process ` +
      `(each sent again once answered) through the window, at the default limits (MAX_BUFFERED_BODY_BYTES, MAX_CONNECTIONS, THREADLINE_MAX_MODEL_LEN): ` +
      `what they got (all rounds), their median latency, the slowest \`GET /health\` of each round and the server's peak resident memory in each round (MiB), as median [min to max]. ` +
      `The steady load's client keeps its connections alive and opens one more when all are busy; a request on a new connection waits in the kernel's queue of connections ` +
      `not yet accepted, behind the flood's, and Node accepts one connection a turn of its event loop.`,
    '',
    table(
      [
        'answers',
        'median (ms)',
        '`GET /health` slowest (ms)',
        'rounds whose slowest `GET /health` opened a connection',
        'peak RSS (MiB)',
        'goals: slowest `GET /health` (ms); peak RSS (MiB)',
      ],
      floodRows,
    ),
    ...(overloadSamples.length === 0
      ? []
      : ['', ...overloadReport(overloadSamples, spreadNote(ROUNDS, 'the ratio is taken round by round'))]),
    ...(slowBodySamples.length === 0
      ? []
      : ['', ...slowBodyReport(slowBodySamples, spreadNote(ROUNDS, 'figures are taken round by round'))]),
  ]);
}

await main();
process.exit(0);
