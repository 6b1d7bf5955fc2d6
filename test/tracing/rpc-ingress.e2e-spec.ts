import { Controller, Logger, Module } from '@nestjs/common';
import type { INestMicroservice } from '@nestjs/common';
import { ClientNats, MessagePattern, NatsRecordBuilder, Transport } from '@nestjs/microservices';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { NestFactory } from '@nestjs/core';
import { firstValueFrom, interval, map, take, toArray } from 'rxjs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTracingLogger, getCurrentRequestId, RequestTracingModule, TracingLogger } from '@threadline/tracing';
import type { RequestTracingOptions } from '@threadline/tracing';
import { LogCapture } from '../support/log-capture.js';
import { describeWithNats, startNatsServer } from '../support/nats-server.js';
import type { NatsServer } from '../support/nats-server.js';

@Controller()
class EchoHandlers {
  private readonly logger = new Logger('EchoHandlers');

  @MessagePattern('rpc.echo')
  echo(): { id: string | undefined } {
    this.logger.log('echo handled');
    return { id: getCurrentRequestId() };
  }

  @MessagePattern('rpc.ticks')
  ticks() {
    return interval(5).pipe(
      take(3),
      map((n) => ({ n, id: getCurrentRequestId() })),
    );
  }
}

// The RPC ingress (docs/tracing.md), with the user's own @nestjs/microservices handlers: RequestTracingModule.forRoot({ rpc: true }).
describeWithNats('RPC ingress: message handlers get the id of the message', () => {
  let nats: NatsServer;
  let app: INestMicroservice;
  let client: ClientNats;
  const logs = new LogCapture();

  beforeAll(async () => {
    nats = await startNatsServer();
    const tracing: RequestTracingOptions = { rpc: true, logDestination: logs };
    @Module({
      imports: [RequestTracingModule.forRoot({ ...tracing, logger: createTracingLogger(tracing) })],
      controllers: [EchoHandlers],
    })
    class RpcModule {}
    app = await NestFactory.createMicroservice(RpcModule, {
      transport: Transport.NATS,
      options: { servers: nats.url },
    });
    app.useLogger(app.get(TracingLogger));
    await app.listen();
    client = new ClientNats({ servers: nats.url });
    await client.connect();
  }, 30_000);
  afterAll(async () => {
    await client?.close();
    await app?.close();
    await nats?.stop();
  });

  function send<T>(pattern: string, id?: string) {
    const headers = natsHeaders();
    if (id !== undefined) headers.set('X-Request-Id', id);
    return client.send<T>(pattern, new NatsRecordBuilder({}).setHeaders(headers).build());
  }

  it('runs the handler in a context with the id from the message header, on its log lines too', async () => {
    expect(await firstValueFrom(send<{ id: string }>('rpc.echo', 'rpc-msg-1'))).toEqual({ id: 'rpc-msg-1' });
    expect(logs.forRequest('rpc-msg-1').map((line) => line.msg)).toEqual(['echo handled']);
  });

  it('replaces an invalid or missing id by a generated one', async () => {
    const replaced = await firstValueFrom(send<{ id: string }>('rpc.echo', 'not valid!'));
    expect(replaced.id).toMatch(/^[0-9a-f-]{36}$/);
    expect((await firstValueFrom(send<{ id: string }>('rpc.echo'))).id).toMatch(/^[0-9a-f-]{36}$/);
    expect(logs.contains('not valid!')).toBe(false);
  });

  it('keeps the id on every item of a streamed (Observable) result', async () => {
    const items = await firstValueFrom(send<{ n: number; id: string }>('rpc.ticks', 'rpc-stream-1').pipe(toArray()));
    expect(items).toEqual([0, 1, 2].map((n) => ({ n, id: 'rpc-stream-1' })));
  });
});
