/**
 * bench:hostile's slow-bodies scenario: more connections sending their bodies slowly than the server
 * has file descriptors (support/slow-body-flood.ts, its own process), at the default limits, while new
 * clients knock: a `GET /health` on a connection of its own every probeEveryMs. What it measures is when
 * new clients are served again (goal: within the body timeout, when the slow connections are cut with a
 * 408 and their slots are free).
 */
import { spawn, spawnSync } from 'node:child_process';
import { Agent, request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { formatSpread, goalVerdict, spread, table } from './stats.js';
import { startServerProcess } from './server-process.js';

export const SLOW_BODIES = {
  connections: 4200,
  /** The server's limit of open files (`ulimit -n`), set on its process with prlimit. */
  openFiles: 4096,
  /** REQUEST_BODY_TIMEOUT_MS at its default. */
  bodyTimeoutMs: 30_000,
  /** Each slow connection sends one more byte of its body this often. */
  trickleMs: 1000,
  probeEveryMs: 100,
  probeTimeoutMs: 2000,
  /** Probes go on this long after the body timeout, to see new clients served again. */
  afterTimeoutMs: 5000,
};
const FLOOD = new URL('./slow-body-flood.js', import.meta.url).pathname;

interface FloodSummary {
  opened: number;
  statuses: Record<string, number>;
  closedAtMs: number[];
}

export interface SlowBodySample {
  flood: FloodSummary;
  /**
   * Each probe: when it was sent (ms from the moment every slow connection was open) and its status (0:
   * failed or timed out).
   */
  probes: Array<{ atMs: number; status: number }>;
}

/** One round: a fresh server with its file limit lowered, the flood, the probes until after the body timeout. */
export async function measureSlowBodies(server: string, env: Record<string, string>): Promise<SlowBodySample> {
  const service = await startServerProcess(server, [], env);
  try {
    const limit = `--nofile=${SLOW_BODIES.openFiles}:${SLOW_BODIES.openFiles}`;
    const set = spawnSync('prlimit', ['--pid', String(service.child.pid), limit], { encoding: 'utf8' });
    if (set.status !== 0) throw new Error(`prlimit failed: ${set.stderr}`);
    const args = [FLOOD, service.port, SLOW_BODIES.connections, SLOW_BODIES.trickleMs].map(String);
    const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    await new Promise<void>((resolve, reject) => {
      child.stderr.on('data', (chunk: Buffer) => String(chunk).includes('FLOODING') && resolve());
      child.once('exit', (code) => reject(new Error(`the slow-body flood exited with ${code} before it began`)));
    });
    // From here every slow connection is open (or was closed as it arrived).
    const started = performance.now();
    const agent = new Agent({ keepAlive: false });
    const probes: Array<Promise<{ atMs: number; status: number }>> = [];
    const until = started + SLOW_BODIES.bodyTimeoutMs + SLOW_BODIES.afterTimeoutMs;
    for (let due = started; due < until; due += SLOW_BODIES.probeEveryMs) {
      await sleep(Math.max(0, due - performance.now()));
      probes.push(probe(agent, service.port, performance.now() - started));
    }
    const answered = await Promise.all(probes);
    agent.destroy();
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.stdin.end();
    await exited;
    return { flood: JSON.parse(out) as FloodSummary, probes: answered };
  } finally {
    await service.stop();
  }
}

function probe(agent: Agent, port: number, atMs: number): Promise<{ atMs: number; status: number }> {
  return new Promise((resolve) => {
    const req = request(
      { agent, host: '127.0.0.1', port, path: '/health', timeout: SLOW_BODIES.probeTimeoutMs },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ atMs, status: res.statusCode ?? 0 }));
        res.on('error', () => resolve({ atMs, status: 0 }));
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve({ atMs, status: 0 }));
    req.end();
  });
}

/**
 * When new clients were served again: the time (ms from the moment every slow connection was open) of
 * the first probe from which every probe was served; 0 when none failed, Infinity when they never were.
 */
export function servedAgainMs(sample: SlowBodySample): number {
  const { probes } = sample;
  let lastFailed = probes.length - 1;
  while (lastFailed >= 0 && probes[lastFailed]!.status === 200) lastFailed--;
  if (lastFailed < 0) return 0;
  if (lastFailed === probes.length - 1) return Number.POSITIVE_INFINITY;
  return probes[lastFailed + 1]!.atMs;
}

export function slowBodyLine(sample: SlowBodySample): string {
  const served = sample.probes.filter((p) => p.status === 200).length;
  const cut = sample.flood.closedAtMs;
  return (
    `slow connections opened ${sample.flood.opened}, ${JSON.stringify(sample.flood.statuses)}, ` +
    `closed from ${(Math.min(...cut) / 1000).toFixed(1)} to ${(Math.max(...cut) / 1000).toFixed(1)} s; ` +
    `probes served ${served} of ${sample.probes.length}; new clients served again after ${(servedAgainMs(sample) / 1000).toFixed(1)} s`
  );
}

/** The scenario's paragraph and table, from every round's sample. */
export function slowBodyReport(samples: readonly SlowBodySample[], spreadNote: string): string[] {
  const seconds = (value: number) => (value / 1000).toFixed(1);
  const servedAgain = spread(samples.map(servedAgainMs));
  const of = (pick: (s: SlowBodySample) => number) => formatSpread(spread(samples.map(pick)), String);
  const statusOf = (s: SlowBodySample, label: string) => s.flood.statuses[label] ?? 0;
  const lastCut = spread(samples.map((s) => Math.max(...s.flood.closedAtMs)));
  const within = (s: SlowBodySample) => s.probes.filter((p) => p.atMs < SLOW_BODIES.bodyTimeoutMs);
  const servedDuring = spread(samples.map((s) => within(s).filter((p) => p.status === 200).length));
  return [
    `Slow bodies: ${SLOW_BODIES.connections.toLocaleString('en-US')} connections opened at once by another process, each sending a chat completion's head ` +
      `and the start of a 1,000-byte body, then a byte every ${SLOW_BODIES.trickleMs / 1000} s, never finishing, and never reconnecting; ` +
      `the server's limit of open files lowered to ${SLOW_BODIES.openFiles.toLocaleString('en-US')} (prlimit), every other limit at its default ` +
      `(MAX_CONNECTIONS 2048, REQUEST_BODY_TIMEOUT_MS ${SLOW_BODIES.bodyTimeoutMs.toLocaleString('en-US')}); a fresh server each round, no steady load. ` +
      `Meanwhile a new client every ${SLOW_BODIES.probeEveryMs} ms: \`GET /health\` on a connection of its own (${SLOW_BODIES.probeTimeoutMs / 1000} s to answer), ` +
      `from the moment every slow connection is open until ${seconds(SLOW_BODIES.afterTimeoutMs)} s after the body timeout. "Served again": ` +
      `when the first new client from which every one was served knocked, from that moment. Goal: new clients are served again within the body timeout. ` +
      spreadNote,
    '',
    table(
      [
        'slow connections held (408 when cut)',
        'closed as they arrived (beyond MAX_CONNECTIONS)',
        "last slow connection cut, from the flood's first connection (s)",
        'new clients served in the body timeout',
        'new clients served again (s)',
        'goal (s)',
      ],
      [
        [
          of((s) => statusOf(s, '408')),
          of((s) => statusOf(s, 'closed unanswered') + statusOf(s, 'not opened')),
          formatSpread(lastCut, seconds),
          `${formatSpread(servedDuring, String)} of ${within(samples[0]!).length}`,
          formatSpread(servedAgain, seconds),
          goalVerdict(servedAgain, { atMost: SLOW_BODIES.bodyTimeoutMs }, seconds),
        ],
      ],
    ),
  ];
}
