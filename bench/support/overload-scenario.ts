/**
 * bench:hostile's overload scenario: a flood of concurrent requests far beyond what the workers admit,
 * with `GET /health` probes among them (support/overload-flood.ts, its own process). What it measures is
 * whether a refusal waits behind admitted work: its latency p99 against that of `GET /health` in the same
 * flood (goal: at most 2x).
 */
import { spawn } from 'node:child_process';
import { formatSpread, goalVerdict, percentile, spread, table } from './stats.js';
import { startServerProcess } from './server-process.js';

export const OVERLOAD = {
  chats: 10_000,
  /** A `GET /health` after every 10 chats: 1,000 probes. */
  probeEvery: 11,
  maxTokens: 50,
  /** Above the flood, so that every request reaches HTTP (at the default, 2048, the rest are closed on arrival). */
  maxConnections: 16_384,
  ratioGoal: 2,
};
const FLOOD = new URL('./overload-flood.js', import.meta.url).pathname;

export interface OverloadSample {
  /** Latencies (ms, from the flood's start) of the `GET /health` answered 200. */
  health: number[];
  /** Of the chats refused with 429 or 503. */
  refusals: number[];
  /** Of the chats served (200). */
  served: number[];
  /** Every answer's status, counted (0: failed at the socket). */
  statuses: Record<string, number>;
}

/** One round: a fresh server, the flood against it, every answer collected. */
export async function measureOverload(server: string, env: Record<string, string>): Promise<OverloadSample> {
  const service = await startServerProcess(server, [], { ...env, MAX_CONNECTIONS: String(OVERLOAD.maxConnections) });
  try {
    const total = Math.round((OVERLOAD.chats * OVERLOAD.probeEvery) / (OVERLOAD.probeEvery - 1));
    const args = [FLOOD, service.port, total, OVERLOAD.probeEvery, OVERLOAD.maxTokens].map(String);
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    if (code !== 0) throw new Error(`the overload flood exited with ${code}`);
    const { answers } = JSON.parse(out) as { answers: Array<['health' | 'chat', number, number]> };
    const sample: OverloadSample = { health: [], refusals: [], served: [], statuses: {} };
    for (const [kind, status, ms] of answers) {
      const label = `${kind === 'health' ? '`GET /health`' : 'chat'} ${status === 0 ? 'failed' : status}`;
      sample.statuses[label] = (sample.statuses[label] ?? 0) + 1;
      if (kind === 'health' && status === 200) sample.health.push(ms);
      else if (kind === 'chat' && (status === 429 || status === 503)) sample.refusals.push(ms);
      else if (kind === 'chat' && status === 200) sample.served.push(ms);
    }
    return sample;
  } finally {
    await service.stop();
  }
}

export function overloadLine(sample: OverloadSample): string {
  const figures = (values: number[]) =>
    `p50 ${percentile(values, 50).toFixed(0)} p99 ${percentile(values, 99).toFixed(0)} ms (${values.length})`;
  return `health ${figures(sample.health)}, refusals ${figures(sample.refusals)}, served ${figures(sample.served)}`;
}

/** The scenario's paragraph and table, from every round's sample. */
export function overloadReport(samples: readonly OverloadSample[], spreadNote: string): string[] {
  const perRound = (pick: (s: OverloadSample) => number[], p: number) => samples.map((s) => percentile(pick(s), p));
  const ms = (values: number[]) => formatSpread(spread(values), (value) => value.toFixed(0));
  const ratio = spread(samples.map((s) => percentile(s.refusals, 99) / percentile(s.health, 99)));
  const counts = new Map<string, number>();
  for (const sample of samples)
    for (const [label, count] of Object.entries(sample.statuses)) counts.set(label, (counts.get(label) ?? 0) + count);
  const answers = [...counts]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([label, count]) => `${label} ×${Math.round(count / samples.length).toLocaleString('en-US')}`)
    .join(', ');
  return [
    `Overload: ${OVERLOAD.chats.toLocaleString('en-US')} small chat completions (max_tokens ${OVERLOAD.maxTokens}, every other one streamed) ` +
      `and, one after every ${OVERLOAD.probeEvery - 1} of them, a \`GET /health\`, all sent at once by another process, each on a connection of its own, ` +
      `against a fresh server each round (its workers as above, MOCKER_MAX_RUNNING and MOCKER_MAX_WAITING at their defaults, ` +
      `MAX_CONNECTIONS ${OVERLOAD.maxConnections.toLocaleString('en-US')} so that every request reaches HTTP: at the default, 2048, the rest are closed as they arrive). ` +
      `Latency from the moment the flood is sent to the answer's end, ms; a connection waits in the kernel's queue until Node accepts it, ` +
      `so every kind of request shares that wait. Answers per round (the rounds' mean): ${answers}. ` +
      `Goal: a refusal (429 or 503) never waits behind admitted work, its p99 at most ${OVERLOAD.ratioGoal}x that of \`GET /health\` in the same flood. ` +
      spreadNote,
    '',
    table(
      [
        '`GET /health` p50',
        '`GET /health` p99',
        'refusals p50',
        'refusals p99',
        'served p50',
        'refusals p99 / `GET /health` p99',
        'goal',
      ],
      [
        [
          ms(perRound((s) => s.health, 50)),
          ms(perRound((s) => s.health, 99)),
          ms(perRound((s) => s.refusals, 50)),
          ms(perRound((s) => s.refusals, 99)),
          ms(perRound((s) => s.served, 50)),
          formatSpread(ratio, (value) => value.toFixed(2)),
          goalVerdict(ratio, { atMost: OVERLOAD.ratioGoal }),
        ],
      ],
    ),
  ];
}
