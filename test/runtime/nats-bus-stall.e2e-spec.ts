import type { TestingModule } from '@nestjs/testing';
import { createServer, connect } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Component, Endpoint, getComponentToken } from '@threadline/runtime';
import type { ComponentClient, EndpointContext } from '@threadline/runtime';
import { RequestIdService } from '@threadline/tracing';
import { LogCapture } from '../support/log-capture.js';
import { describeWithNats, startNatsServer } from '../support/nats-server.js';
import type { NatsServer } from '../support/nats-server.js';
import { startNatsSide } from '../support/nats-side.js';
import { waitUntil } from '../support/wait-for.js';

/**
 * nats-server itself stalls (SIGSTOP: its connections stay open, nothing moves), as on a hiccup of the
 * bus or the network. Every peer then falls silent at once: caller and callee each hear none of their own
 * beats either, so neither takes the other for gone, and a stream under way goes on when the bus does.
 * A link that stays silent, one process's alone, is given up after a few seconds as before.
 */

@Component({ name: 'stall-ticker' })
class Ticker {
  /** `count` items, one every `everyMs`. */
  @Endpoint()
  async *ticks(request: { count: number; everyMs: number }): AsyncGenerator<number> {
    for (let n = 0; n < request.count; n++) {
      await sleep(request.everyMs);
      yield n;
    }
  }

  /** As `ticks`, but it returns quietly once its signal aborts, as a generator checking it between items does. */
  @Endpoint()
  async *quietTicks(request: { count: number; everyMs: number }, context: EndpointContext): AsyncGenerator<number> {
    for (let n = 0; n < request.count && !context.signal.aborted; n++) {
      await sleep(request.everyMs);
      yield n;
    }
  }
}

const logs = new LogCapture();

describeWithNats('a stall of nats-server itself', () => {
  let nats: NatsServer;
  let sides: TestingModule[];
  let ticker: ComponentClient<Ticker>;

  beforeAll(async () => {
    nats = await startNatsServer();
    const side = (serve: boolean) =>
      startNatsSide({
        components: [Ticker],
        serve: serve ? [Ticker] : [],
        nats: { url: nats.url, shutdownGraceMs: 500 },
        tracing: { logDestination: logs },
      });
    sides = [await side(true), await side(false)];
    ticker = sides[1]!.get<ComponentClient<Ticker>>(getComponentToken(Ticker));
    await waitUntil(async () => (await ticker.instances()).length > 0);
  }, 30_000);
  afterAll(async () => {
    nats?.signal('SIGCONT');
    for (const side of sides ?? []) await side.close();
    await nats?.stop();
  });

  it('longer than a peer’s silence allows (3.5 s): the stream goes on, whole, once the bus does', async () => {
    const received: number[] = [];
    const requestIds = sides[1]!.get(RequestIdService);
    const streamed = requestIds.run(async () => {
      for await (const n of ticker.ticks({ count: 60, everyMs: 50 })) received.push(n);
    }, 'bus-stall-1');
    await waitUntil(() => received.length >= 5);
    nats.signal('SIGSTOP');
    await sleep(3500);
    nats.signal('SIGCONT');
    await streamed;
    expect(received).toEqual([...Array(60).keys()]);
    const goneLines = logs.lines.filter((line) => /gone|silent/.test(String(line.msg)));
    expect(goneLines).toEqual([]);
  }, 30_000);
});

/** A TCP proxy to `port` whose traffic can be held, both ways, as a link that stalls. */
async function stallableProxy(
  port: number,
): Promise<{ url: string; hold(): void; resume(): void; close(): void; server: Server }> {
  const sockets: Socket[] = [];
  const server = createServer((client) => {
    const upstream = connect(port, '127.0.0.1');
    sockets.push(client, upstream);
    client.pipe(upstream);
    upstream.pipe(client);
    const drop = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop);
    upstream.on('error', drop);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `nats://127.0.0.1:${(server.address() as AddressInfo).port}`,
    server,
    hold: () => {
      for (const socket of sockets) socket.pause();
    },
    resume: () => {
      for (const socket of sockets) socket.resume();
    },
    close: () => {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}

describeWithNats('a link to nats-server that stalls for one process alone', () => {
  let nats: NatsServer;
  let proxy: Awaited<ReturnType<typeof stallableProxy>>;
  let sides: TestingModule[];

  beforeAll(async () => {
    nats = await startNatsServer();
    proxy = await stallableProxy(nats.port);
    sides = [
      await startNatsSide({
        components: [Ticker],
        serve: [Ticker],
        nats: { url: nats.url, shutdownGraceMs: 500 },
        tracing: { logDestination: logs },
      }),
      // The caller reaches nats-server through the proxy.
      await startNatsSide({
        components: [Ticker],
        serve: [],
        nats: { url: proxy.url, shutdownGraceMs: 500 },
        tracing: { logDestination: logs },
      }),
    ];
  }, 30_000);
  afterAll(async () => {
    proxy?.close();
    for (const side of sides ?? []) await side.close().catch(() => undefined);
    await nats?.stop();
  });

  it('ends the caller’s stream with a 503 within seconds, rather than leaving it waiting for good', async () => {
    const ticker = sides[1]!.get<ComponentClient<Ticker>>(getComponentToken(Ticker));
    await waitUntil(async () => (await ticker.instances()).length > 0);
    const received: number[] = [];
    const requestIds = sides[1]!.get(RequestIdService);
    const streamed = requestIds.run(async () => {
      for await (const n of ticker.ticks({ count: 600, everyMs: 50 })) received.push(n);
    }, 'link-stall-1');
    const outcome = streamed.then(
      () => 'completed',
      (error: unknown) => error,
    );
    await waitUntil(() => received.length >= 5);
    const heldAt = Date.now();
    proxy.hold();
    const failure = await Promise.race([outcome, sleep(15_000).then(() => 'still waiting')]);
    proxy.resume();
    expect(failure).toMatchObject({ status: 503, code: 'instance_gone' });
    // A second of allowance and four stood still, then the three silent seconds that make an instance gone.
    expect(Date.now() - heldAt).toBeLessThan(12_000);
  }, 30_000);

  it('a stream its callee stopped for the caller’s silence fails at the caller once back, not as a shorter whole answer', async () => {
    const ticker = sides[1]!.get<ComponentClient<Ticker>>(getComponentToken(Ticker));
    await waitUntil(async () => (await ticker.instances()).length > 0);
    const received: number[] = [];
    const requestIds = sides[1]!.get(RequestIdService);
    const outcome = requestIds
      .run(async () => {
        for await (const n of ticker.quietTicks({ count: 200, everyMs: 50 })) received.push(n);
      }, 'link-stall-2')
      .then(
        () => 'completed',
        (error: unknown) => error,
      );
    await waitUntil(() => received.length >= 5);
    // Longer than the callee waits for a silent caller (2 s), shorter than the caller gives its callee up.
    proxy.hold();
    await sleep(3500);
    proxy.resume();
    const failure = await outcome;
    expect(failure).toMatchObject({ status: 503, code: 'caller_silent' });
    // In terms its own client understands: the process id is in the callee's line alone.
    expect((failure as Error).message).toMatch(
      /^The request was stopped: this service paused, or lost contact with its workers, for more than 2(\.\d)? s\./,
    );
    expect(logs.contains('stopping stall-ticker.quietTicks: its caller (process ')).toBe(true);
    expect(received.length).toBeLessThan(200);
  }, 30_000);
});
