import { Controller, Logger, Module } from '@nestjs/common';
import type { INestMicroservice } from '@nestjs/common';
import { ClientTCP, EventPattern, MessagePattern, Transport } from '@nestjs/microservices';
import { NestFactory } from '@nestjs/core';
import { firstValueFrom } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  addTracingMetadata,
  createTracingLogger,
  getCurrentRequestId,
  RequestIdService,
  RequestTracingModule,
  TracingLogger,
} from '@threadline/tracing';
import type { RequestTracingOptions } from '@threadline/tracing';
import { LogCapture } from '../support/log-capture.js';
import { freePort } from '../support/nats-server.js';
import { waitUntil } from '../support/wait-for.js';

/** The ids the `rpc.seen` event handler ran under. */
const eventIds: Array<string | undefined> = [];

@Controller()
class TcpHandlers {
  private readonly logger = new Logger('TcpHandlers');

  @MessagePattern('rpc.echo')
  echo(): { id: string | undefined } {
    this.logger.log('echo handled');
    return { id: getCurrentRequestId() };
  }

  @EventPattern('rpc.seen')
  seen(_data: unknown): void {
    eventIds.push(getCurrentRequestId());
  }
}

// The RPC ingress over TCP, whose packets carry no headers: the id travels in the packet's metadata,
// which a client's dispatch hook attaches (addTracingMetadata).
describe('RPC ingress over TCP: the id in the packet metadata', () => {
  let app: INestMicroservice;
  let client: ClientTCP;
  let requestIds: RequestIdService;
  let port: number;
  const logs = new LogCapture();

  beforeAll(async () => {
    port = await freePort();
    const tracing: RequestTracingOptions = { rpc: true, logDestination: logs };
    @Module({
      imports: [RequestTracingModule.forRoot({ ...tracing, logger: createTracingLogger(tracing) })],
      controllers: [TcpHandlers],
    })
    class TcpModule {}
    app = await NestFactory.createMicroservice(TcpModule, {
      transport: Transport.TCP,
      options: { host: '127.0.0.1', port },
    });
    app.useLogger(app.get(TracingLogger));
    await app.listen();
    requestIds = app.get(RequestIdService);
    client = new ClientTCP({ host: '127.0.0.1', port });
    client.setOnDispatchHook(addTracingMetadata);
    await client.connect();
  }, 30_000);
  afterAll(async () => {
    client?.close();
    await app?.close();
  });

  it('a message sent in a request is handled under its id, on its log lines too', async () => {
    const answer = await requestIds.run(() => firstValueFrom(client.send<{ id: string }>('rpc.echo', {})), 'tcp-1');
    expect(answer).toEqual({ id: 'tcp-1' });
    expect(logs.forRequest('tcp-1').map((line) => line.msg)).toEqual(['echo handled']);
  });

  it('so is an event', async () => {
    await requestIds.run(() => firstValueFrom(client.emit('rpc.seen', {}), { defaultValue: undefined }), 'tcp-event-1');
    await waitUntil(() => eventIds.length > 0, 5_000);
    expect(eventIds).toEqual(['tcp-event-1']);
  });

  it('a message sent outside any request gets a generated id; metadata with an invalid id, a generated one', async () => {
    expect((await firstValueFrom(client.send<{ id: string }>('rpc.echo', {}))).id).toMatch(/^[0-9a-f-]{36}$/);
    const raw = new ClientTCP({ host: '127.0.0.1', port });
    raw.setOnDispatchHook((packet) => {
      packet.metadata = { 'x-request-id': 'not valid!' };
    });
    try {
      expect((await firstValueFrom(raw.send<{ id: string }>('rpc.echo', {}))).id).toMatch(/^[0-9a-f-]{36}$/);
    } finally {
      raw.close();
    }
    expect(logs.contains('not valid!')).toBe(false);
  });
});
