import { ClientNats, NatsRecordBuilder, ServerNats } from '@nestjs/microservices';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { firstValueFrom, Observable, toArray } from 'rxjs';
import type { TestingModule } from '@nestjs/testing';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { Component, Endpoint, EndpointError, getComponentToken } from '@threadline/runtime';
import type { ComponentClient, EndpointContext, NatsOptions } from '@threadline/runtime';
import { RequestIdService } from '@threadline/tracing';
import { LogCapture } from '../support/log-capture.js';
import { describeWithNats, startNatsServer } from '../support/nats-server.js';
import type { NatsServer } from '../support/nats-server.js';
import { startNatsSide } from '../support/nats-side.js';
import { waitUntil } from '../support/wait-for.js';

/** What the producer made and whether its stream was stopped, by request id. */
const produced = new Map<string, number>();
const stopped = new Set<string>();

@Component({ name: 'pacing-producer' })
class Producer {
  @Endpoint()
  async *count(
    request: { count: number; size: number },
    context: EndpointContext,
  ): AsyncGenerator<{ n: number; pad?: string }> {
    try {
      for (let n = 0; n < request.count; n++) {
        produced.set(context.requestId, n + 1);
        yield { n, ...(request.size > 0 && { pad: 'x'.repeat(request.size) }) };
      }
    } finally {
      stopped.add(context.requestId);
    }
  }
}

/** Served by no module: a peer of an earlier version, on Nest's own NATS server, serves it. */
@Component({ name: 'pacing-legacy' })
class LegacyProducer {
  @Endpoint()
  async *count(_request: { count: number }): AsyncGenerator<{ n: number }> {
    yield* [];
  }
}

/** Every side's log lines (Nest's static logger is the process's, whichever module set it last). */
const logs = new LogCapture();

/** A side serving the producer, or calling it, offering `pacing`. */
function startSide(url: string, serve: boolean, pacing: NatsOptions['pacing']): Promise<TestingModule> {
  return startNatsSide({
    components: [Producer, LegacyProducer],
    serve: serve ? [Producer] : [],
    nats: { url, shutdownGraceMs: 500, ...(pacing !== undefined && { pacing }) },
    tracing: { logLevel: 'info', logDestination: logs },
  });
}

describeWithNats('streams over NATS paced by their callers’ acknowledgements', () => {
  let nats: NatsServer;
  let callee: TestingModule;
  const callers: TestingModule[] = [];

  /** A caller offering `pacing`, with its client of the producer and its request ids. */
  async function caller(pacing: NatsOptions['pacing']) {
    const moduleRef = await startSide(nats.url, false, pacing);
    callers.push(moduleRef);
    const client = moduleRef.get<ComponentClient<Producer>>(getComponentToken(Producer));
    await waitUntil(async () => (await client.instances()).length > 0, 10_000);
    return { client, requestIds: moduleRef.get(RequestIdService) };
  }

  beforeAll(async () => {
    nats = await startNatsServer();
    callee = await startSide(nats.url, true, undefined);
  }, 30_000);
  afterAll(async () => {
    for (const moduleRef of callers) await moduleRef.close();
    await callee?.close();
    await nats?.stop();
  });
  beforeEach(() => logs.clear());

  it('stops producing a window ahead of a caller that stopped reading, and stops the call within seconds', async () => {
    const { client, requestIds } = await caller({ frames: 16 });
    const iterator = requestIds.run(
      () => client.count({ count: 100_000, size: 0 })[Symbol.asyncIterator](),
      'pacing-stuck',
    );
    for (let n = 0; n < 3; n++) expect((await iterator.next()).value).toEqual({ n });
    const stoppedReading = Date.now();
    // The callee runs ahead by the window at most (and one item it made but holds), then waits.
    await sleep(1000);
    const ahead = produced.get('pacing-stuck')!;
    expect(ahead).toBeLessThanOrEqual(3 + 16 + 1);
    await waitUntil(() => stopped.has('pacing-stuck'), 10_000);
    const stoppedAfter = Date.now() - stoppedReading;
    expect(stoppedAfter).toBeLessThan(8000);
    expect(produced.get('pacing-stuck')).toBe(ahead);
    const line = logs.lines.find((entry) => String(entry.msg).includes('its caller read nothing'));
    expect(line).toMatchObject({ requestId: 'pacing-stuck', level: 40 });
    expect(line?.msg).toMatch(/^stopping pacing-producer\.count: its caller read nothing of the stream for \d+ ms$/);
    // Read again: what was sent comes first, then the error that stopped the call.
    let read = 3;
    const failure = await (async () => {
      try {
        for (let next = await iterator.next(); !next.done; next = await iterator.next()) read++;
      } catch (error) {
        return error;
      }
      return undefined;
    })();
    expect(read).toBeLessThanOrEqual(ahead);
    expect(failure).toBeInstanceOf(EndpointError);
    expect(failure).toMatchObject({ requestId: 'pacing-stuck', status: 503, code: 'reader_stalled' });
  }, 20_000);

  it('delivers a long stream whole and in order through a small window, large items included', async () => {
    const { client, requestIds } = await caller({ frames: 4, bytes: 64 * 1024 });
    const received: number[] = [];
    await requestIds.run(async () => {
      for await (const item of client.count({ count: 3000, size: 0 })) received.push(item.n);
      for await (const item of client.count({ count: 200, size: 20_000 })) received.push(item.n);
    }, 'pacing-whole');
    expect(received).toEqual([
      ...Array.from({ length: 3000 }, (_, n) => n),
      ...Array.from({ length: 200 }, (_, n) => n),
    ]);
    expect(logs.contains('its caller read nothing')).toBe(false);
  }, 20_000);

  it('delivers items larger than the window (sent in parts) to a reader that waits for them', async () => {
    // Each item is 5 MB, some 7 MB in parts (base64, seven messages): more bytes than the window.
    const { client, requestIds } = await caller({ frames: 8, bytes: 3 * 1024 * 1024 });
    const sizes: number[] = [];
    await requestIds.run(async () => {
      for await (const item of client.count({ count: 4, size: 5_000_000 })) sizes.push(item.pad?.length ?? 0);
    }, 'pacing-large');
    expect(sizes).toEqual([5_000_000, 5_000_000, 5_000_000, 5_000_000]);
    expect(logs.contains('its caller read nothing')).toBe(false);
  }, 20_000);

  it('still holds items in parts back from a reader that stopped, and stops the call', async () => {
    const { client, requestIds } = await caller({ frames: 8, bytes: 3 * 1024 * 1024 });
    const iterator = requestIds.run(
      () => client.count({ count: 1000, size: 5_000_000 })[Symbol.asyncIterator](),
      'pacing-large-stuck',
    );
    expect((await iterator.next()).value).toMatchObject({ n: 0 });
    await waitUntil(() => stopped.has('pacing-large-stuck'), 15_000);
    // The item read, the one the callee was sending when its window filled, and one made but held.
    expect(produced.get('pacing-large-stuck')).toBeLessThanOrEqual(3);
    expect(logs.contains('its caller read nothing')).toBe(true);
    await iterator.return?.();
  }, 20_000);

  it('keeps a slow reader’s stream going: reading at all is progress', async () => {
    const { client, requestIds } = await caller({ frames: 4 });
    let read = 0;
    await requestIds.run(async () => {
      for await (const _ of client.count({ count: 20, size: 0 })) {
        read++;
        await sleep(150);
      }
    }, 'pacing-slow');
    expect(read).toBe(20);
    expect(stopped.has('pacing-slow')).toBe(true);
    expect(logs.contains('its caller read nothing')).toBe(false);
  }, 20_000);

  it('answers a caller of an earlier version (Nest’s NATS client, no credit offered) as before', async () => {
    const client = new ClientNats({ servers: nats.url });
    await client.connect();
    try {
      const headers = natsHeaders();
      headers.set('x-request-id', 'pacing-old-caller');
      const record = new NatsRecordBuilder({ count: 300, size: 0 }).setHeaders(headers).build();
      const frames = await firstValueFrom(
        client
          .send<{ kind: string; value?: unknown; credit?: string }>('threadline.pacing-producer.count', record)
          .pipe(toArray()),
      );
      expect(frames[0]).toMatchObject({ kind: 'start' });
      expect(frames[0]!.credit).toBeUndefined();
      expect(frames.slice(1).map((frame) => frame.value)).toEqual(Array.from({ length: 300 }, (_, n) => ({ n })));
    } finally {
      await client.close();
    }
  }, 20_000);

  it('reads a callee of an earlier version (Nest’s NATS server, no subject for acknowledgements) to the end', async () => {
    const server = new ServerNats({ servers: nats.url });
    server.addHandler(
      'threadline.pacing-legacy.count',
      async (data: { count: number }) =>
        new Observable((subscriber) => {
          subscriber.next({ kind: 'start', instanceId: 'pacing-legacy-old' });
          for (let n = 0; n < data.count; n++) subscriber.next({ kind: 'item', value: { n } });
          subscriber.complete();
        }),
      false,
      { queue: 'threadline.pacing-legacy' },
    );
    await new Promise<void>((resolve, reject) => {
      // listen() reports through its callback.
      void server.listen((error?: unknown) =>
        error === undefined ? resolve() : reject(new Error('listen failed', { cause: error })),
      );
    });
    try {
      const moduleRef = await startSide(nats.url, false, undefined);
      callers.push(moduleRef);
      const legacy = moduleRef.get<ComponentClient<LegacyProducer>>(getComponentToken(LegacyProducer));
      const received: number[] = [];
      await moduleRef.get(RequestIdService).run(async () => {
        for await (const item of legacy.count({ count: 1000 })) received.push(item.n);
      }, 'pacing-old-callee');
      expect(received).toEqual(Array.from({ length: 1000 }, (_, n) => n));
    } finally {
      await server.close();
    }
  }, 20_000);

  it('sends freely to a caller that offers no acknowledgements, as before pacing', async () => {
    const { client, requestIds } = await caller(false);
    const iterator = requestIds.run(() => client.count({ count: 2000, size: 0 })[Symbol.asyncIterator](), 'pacing-off');
    await iterator.next();
    await waitUntil(() => produced.get('pacing-off') === 2000, 10_000);
    let read = 1;
    for (let next = await iterator.next(); !next.done; next = await iterator.next()) read++;
    expect(read).toBe(2000);
  }, 20_000);
});
