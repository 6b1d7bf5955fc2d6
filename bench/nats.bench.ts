/**
 * The NATS transport against raw NATS on the same server: the round trip of a unary `depends()` call
 * (request id header, call id, the start frame, the callee's context) against a raw
 * `@nats-io/transport-node` request/reply of the same payload, and the items per second of one
 * streamed call. Client and server share this process; the messages go through a real nats-server.
 *
 *   npm run bench:nats        npm run bench:nats -- --quick        (needs nats-server on PATH)
 */
import 'reflect-metadata';
import { connect } from '@nats-io/transport-node';
import { Test } from '@nestjs/testing';
import { Writable } from 'node:stream';
import { Component, Endpoint, getComponentToken, RuntimeModule, unary } from '@threadline/runtime';
import type { ComponentClient } from '@threadline/runtime';
import { createTracingLogger, RequestIdService, RequestTracingModule } from '@threadline/tracing';
import type { RequestTracingOptions } from '@threadline/tracing';
import { startNatsServer } from './support/nats-server.js';
import { publishReport, spreadNote } from './support/report.js';
import { comparison, formatSpread, goalVerdict, spread, table } from './support/stats.js';

@Component({ name: 'bench-echo' })
class EchoComponent {
  @Endpoint()
  async echo(request: { text: string }): Promise<{ text: string }> {
    return request;
  }

  @Endpoint()
  async *items(request: { count: number }): AsyncGenerator<{ n: number }> {
    for (let n = 0; n < request.count; n++) yield { n };
  }
}

const quick = process.argv.includes('--quick');
const CALLS = quick ? 500 : 3000;
const ITEMS = quick ? 5000 : 50_000;
const ROUNDS = quick ? 2 : 5;
const PAYLOAD = { text: 'x'.repeat(64) };

async function main(): Promise<void> {
  const nats = await startNatsServer();
  const responder = await connect({ servers: nats.url });
  const requester = await connect({ servers: nats.url });
  responder.subscribe('bench.raw.echo', {
    callback: (_error, message) => {
      message.respond(message.data);
    },
  });
  const encoded = JSON.stringify(PAYLOAD);

  const tracing: RequestTracingOptions = {
    logLevel: 'error',
    logDestination: new Writable({ write: (_c, _e, done) => done() }),
  };
  const moduleRef = await Test.createTestingModule({
    imports: [
      RequestTracingModule.forRoot({ ...tracing, logger: createTracingLogger(tracing) }),
      RuntimeModule.forRoot({
        components: [EchoComponent],
        transport: 'nats',
        nats: { url: nats.url, shutdownGraceMs: 1000 },
      }),
    ],
  }).compile();
  await moduleRef.init();
  await new Promise((resolve) => setTimeout(resolve, 1500)); // the instance's first heartbeat
  const client = moduleRef.get<ComponentClient<EchoComponent>>(getComponentToken(EchoComponent));
  const requestIds = moduleRef.get(RequestIdService);

  const raw: number[] = [];
  const viaDepends: number[] = [];
  const streamed: number[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    raw.push(await meanMicros(() => requester.request('bench.raw.echo', encoded, { timeout: 5000 })));
    viaDepends.push(await requestIds.run(() => meanMicros(() => unary(client.echo(PAYLOAD))), 'bench-nats'));
    const started = performance.now();
    let received = 0;
    await requestIds.run(async () => {
      for await (const _ of client.items({ count: ITEMS })) received++;
    }, 'bench-nats-stream');
    streamed.push(received / ((performance.now() - started) / 1000));
    console.error(
      `round ${round}/${ROUNDS}: raw ${raw.at(-1)!.toFixed(0)} µs, depends() ${viaDepends.at(-1)!.toFixed(0)} µs, stream ${Math.round(streamed.at(-1)!)} items/s`,
    );
  }
  await moduleRef.close();
  await responder.close();
  await requester.close();
  nats.stop();

  const micros = (value: number) => value.toFixed(0);
  // Paired: each round's depends() round trip against the raw one of the same round.
  const ratio = spread(viaDepends.map((value, round) => value / raw[round]!));
  publishReport('nats', `npm run bench:nats${quick ? ' -- --quick' : ''}`, [
    '### NATS: a `depends()` call against raw request/reply',
    '',
    `${CALLS.toLocaleString('en')} sequential calls of a 64-byte payload per round, and one streamed call of ${ITEMS.toLocaleString('en')} items; ` +
      `client and server in one process, through a real nats-server on loopback. Median of ${ROUNDS} interleaved rounds.`,
    '',
    table(
      ['call', 'mean round trip (µs)', 'vs raw', 'goal (vs raw)'],
      [
        ['raw @nats-io/transport-node request/reply', formatSpread(spread(raw), micros), '1.00', ''],
        [
          'unary `depends()` over NATS',
          formatSpread(spread(viaDepends), micros),
          comparison(ratio, 1, (value) => value.toFixed(2)),
          goalVerdict(ratio, { atMost: 1.5 }),
        ],
      ],
    ),
    '',
    `A streamed \`depends()\` call over NATS: ${formatSpread(spread(streamed), (value) => Math.round(value).toLocaleString('en'))} items/s.`,
    '',
    spreadNote(ROUNDS, '"vs raw" ranges over each round\'s own ratio'),
  ]);
}

async function meanMicros(call: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 100; i++) await call(); // warm-up
  const started = performance.now();
  for (let i = 0; i < CALLS; i++) await call();
  return ((performance.now() - started) * 1000) / CALLS;
}

await main();
process.exit(0);
