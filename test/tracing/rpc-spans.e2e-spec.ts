import { Controller, Module } from '@nestjs/common';
import type { INestMicroservice } from '@nestjs/common';
import { ClientNats, MessagePattern, NatsRecordBuilder, RpcException, Transport } from '@nestjs/microservices';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { NestFactory } from '@nestjs/core';
import { firstValueFrom, interval, map, take, tap, toArray } from 'rxjs';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { addSpanRecorder, outboundTracingHeaders, RequestTracingModule } from '@threadline/tracing';
import type { FinishedSpan } from '@threadline/tracing';
import { LogCapture } from '../support/log-capture.js';
import { describeWithNats, startNatsServer } from '../support/nats-server.js';
import type { NatsServer } from '../support/nats-server.js';
import { waitUntil } from '../support/wait-for.js';

const TRACE_ID = '6e0c63257de34c926f9efcd03927272e';
const CALLER_SPAN = 'b7ad6b7169203331';
const TRACEPARENT = `00-${TRACE_ID}-${CALLER_SPAN}-01`;

/** When the `rpc.ticks` stream emitted its last item, on the clock spans use. */
let lastTickAt = 0;

@Controller()
class SpanHandlers {
  @MessagePattern('rpc.echo')
  echo(): { traceparent: string | undefined } {
    return { traceparent: outboundTracingHeaders().traceparent };
  }

  @MessagePattern('rpc.ticks')
  ticks() {
    return interval(10).pipe(
      take(3),
      map((n) => ({ n })),
      tap(() => (lastTickAt = performance.timeOrigin + performance.now())),
    );
  }

  @MessagePattern({ cmd: 'refuse' })
  refuse(): never {
    throw new RpcException('not today');
  }
}

// RPC spans (docs/configuration.md): with RequestTracingModule.forRoot({ rpc: true }), an app's own
// @nestjs/microservices handlers get a server span per message, when spans are recorded.
describeWithNats('RPC ingress spans: one server span per message handled', () => {
  let nats: NatsServer;
  let app: INestMicroservice;
  let client: ClientNats;
  const spans: FinishedSpan[] = [];
  let removeRecorder: (() => void) | undefined;

  beforeAll(async () => {
    nats = await startNatsServer();
    @Module({
      imports: [RequestTracingModule.forRoot({ rpc: true, logDestination: new LogCapture() })],
      controllers: [SpanHandlers],
    })
    class RpcModule {}
    app = await NestFactory.createMicroservice(RpcModule, {
      transport: Transport.NATS,
      options: { servers: nats.url },
      logger: false,
    });
    await app.listen();
    client = new ClientNats({ servers: nats.url });
    await client.connect();
  }, 30_000);
  afterEach(() => {
    removeRecorder?.();
    removeRecorder = undefined;
    spans.length = 0;
  });
  afterAll(async () => {
    await client?.close();
    await app?.close();
    await nats?.stop();
  });

  function record(): void {
    removeRecorder = addSpanRecorder({ onEnd: (span) => spans.push(span) });
  }

  function send<T>(pattern: string | object, id: string, traceparent?: string) {
    const headers = natsHeaders();
    headers.set('X-Request-Id', id);
    if (traceparent !== undefined) headers.set('traceparent', traceparent);
    return client.send<T>(pattern, new NatsRecordBuilder({}).setHeaders(headers).build());
  }

  it('makes a server span named after the pattern, a child of the message’s traceparent', async () => {
    record();
    const reply = await firstValueFrom(send<{ traceparent: string }>('rpc.echo', 'rpc-span-1', TRACEPARENT));
    await waitUntil(() => spans.length === 1, 2000);
    const [span] = spans;
    expect(span).toMatchObject({
      name: 'rpc.echo',
      kind: 'server',
      traceId: TRACE_ID,
      parentSpanId: CALLER_SPAN,
      status: 'unset',
      requestId: 'rpc-span-1',
      attributes: { 'rpc.system': 'nats', x_request_id: 'rpc-span-1' },
    });
    // The handler runs in the span: what it passes on names the span as the parent.
    expect(reply.traceparent).toBe(`00-${TRACE_ID}-${span!.spanId}-01`);
  });

  it('starts a trace of its own for a message without traceparent', async () => {
    record();
    await firstValueFrom(send('rpc.echo', 'rpc-span-2'));
    await waitUntil(() => spans.length === 1, 2000);
    expect(spans[0]!.parentSpanId).toBeUndefined();
    expect(spans[0]!.traceId).toMatch(/^[0-9a-f]{32}$/);
  });

  it('ends the span of a streamed result when the stream completes', async () => {
    record();
    const items = await firstValueFrom(send<{ n: number }>('rpc.ticks', 'rpc-span-3', TRACEPARENT).pipe(toArray()));
    expect(items).toEqual([{ n: 0 }, { n: 1 }, { n: 2 }]);
    await waitUntil(() => spans.length === 1, 2000);
    expect(spans[0]).toMatchObject({ name: 'rpc.ticks', status: 'unset' });
    expect(spans[0]!.endTime).toBeGreaterThanOrEqual(lastTickAt);
  });

  it('marks the span failed when the handler fails, named after an object pattern', async () => {
    record();
    await expect(firstValueFrom(send({ cmd: 'refuse' }, 'rpc-span-4', TRACEPARENT))).rejects.toMatchObject({
      message: 'not today',
    });
    await waitUntil(() => spans.length === 1, 2000);
    expect(spans[0]).toMatchObject({
      name: '{"cmd":"refuse"}',
      status: 'error',
      statusMessage: 'not today',
    });
  });

  it('makes no span when no recorder is registered: the message’s traceparent is passed on as it came', async () => {
    const reply = await firstValueFrom(send<{ traceparent: string }>('rpc.echo', 'rpc-span-5', TRACEPARENT));
    expect(reply.traceparent).toBe(TRACEPARENT);
    expect(spans).toEqual([]);
  });
});
