/**
 * What one in-process `depends()` hop costs: CPU per unary call through a component client (request
 * id, per-call id, the callee's context with its component name, error wrapping) against calling the
 * same method directly, both inside a request context. Rounds are interleaved; medians reported with the
 * range of the rounds, and the goal judged on every round's own difference.
 *
 *   npm run bench:hop        npm run bench:hop -- --quick
 */
import 'reflect-metadata';
import { Test } from '@nestjs/testing';
import { Component, Endpoint, getComponentToken, RuntimeModule, unary } from '@threadline/runtime';
import type { ComponentClient } from '@threadline/runtime';
import { RequestIdService } from '@threadline/tracing';
import { quietTracingModule } from './support/quiet-tracing.js';
import { publishReport, spreadNote } from './support/report.js';
import { comparison, formatSpread, goalVerdict, spread, table } from './support/stats.js';

@Component({ name: 'echo' })
class EchoComponent {
  @Endpoint()
  async echo(request: { n: number }): Promise<{ n: number }> {
    return { n: request.n + 1 };
  }
}

const quick = process.argv.includes('--quick');
const CALLS = quick ? 20_000 : 200_000;
const ROUNDS = quick ? 3 : 7;

/** CPU microseconds per call of `call`, run `CALLS` times one after another. */
async function cpuPerCall(call: (n: number) => Promise<unknown>): Promise<number> {
  for (let n = 0; n < 2000; n++) await call(n); // warm-up
  const before = process.cpuUsage();
  for (let n = 0; n < CALLS; n++) await call(n);
  const used = process.cpuUsage(before);
  return (used.user + used.system) / CALLS;
}

async function main(): Promise<void> {
  const moduleRef = await Test.createTestingModule({
    imports: [quietTracingModule(), RuntimeModule.forRoot({ components: [EchoComponent] })],
  }).compile();
  await moduleRef.init();
  const client = moduleRef.get<ComponentClient<EchoComponent>>(getComponentToken(EchoComponent));
  const requestIds = moduleRef.get(RequestIdService);
  const direct = new EchoComponent();
  const hop: number[] = [];
  const baseline: number[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    baseline.push(await requestIds.run(() => cpuPerCall((n) => direct.echo({ n })), 'bench-hop'));
    hop.push(await requestIds.run(() => cpuPerCall((n) => unary(client.echo({ n }))), 'bench-hop'));
    console.error(
      `round ${round}/${ROUNDS}: direct ${baseline.at(-1)!.toFixed(2)} µs, depends() ${hop.at(-1)!.toFixed(2)} µs`,
    );
  }
  await moduleRef.close();
  const micros = (value: number) => value.toFixed(2);
  // Paired: each round's hop against the direct calls of the same round.
  const above = spread(hop.map((value, round) => value - baseline[round]!));
  publishReport('depends-hop', `npm run bench:hop${quick ? ' -- --quick' : ''}`, [
    '### In-process `depends()` hop',
    '',
    `${CALLS.toLocaleString('en')} unary calls one after another inside a request context, CPU time of the process per call; median of ${ROUNDS} interleaved rounds.`,
    '',
    table(
      ['call', 'CPU µs per call', 'µs above a direct call', 'goal (µs above)'],
      [
        ['direct method call', formatSpread(spread(baseline), micros), '—', ''],
        [
          'through `depends()` (in-process transport)',
          formatSpread(spread(hop), micros),
          comparison(above, 0, micros),
          goalVerdict(above, { atMost: 5 }, (value) => value.toFixed(0)),
        ],
      ],
    ),
    '',
    spreadNote(ROUNDS, '"above a direct call" ranges over each round\'s own difference'),
  ]);
}

await main();
process.exit(0);
