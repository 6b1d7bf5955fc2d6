import { Injectable } from '@nestjs/common';
import type { OnModuleInit } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type { TestingModule } from '@nestjs/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Component, ComponentEvents, RuntimeModule } from '@threadline/runtime';
import { RequestTracingModule } from '@threadline/tracing';
import { LogCapture } from '../support/log-capture.js';
import { describeWithNats, startNatsServer } from '../support/nats-server.js';
import type { NatsServer } from '../support/nats-server.js';
import { waitUntil } from '../support/wait-for.js';

@Component({ name: 'events-quiet' })
class Quiet {}

/** Subscribes as a provider starts (`onModuleInit`), before the transport has connected. */
@Injectable()
class EarlySubscriber implements OnModuleInit {
  readonly heard: unknown[] = [];
  readonly stoppedHeard: unknown[] = [];

  constructor(private readonly events: ComponentEvents) {}

  onModuleInit(): void {
    this.events.subscribe('greetings', (payload) => this.heard.push(payload));
    const stop = this.events.subscribe('greetings', (payload) => this.stoppedHeard.push(payload));
    stop();
  }
}

/** Event subscriptions over NATS made before start-up is over, as in one process. */
describeWithNats('component events over NATS', () => {
  let nats: NatsServer;
  let moduleRef: TestingModule;

  beforeAll(async () => {
    nats = await startNatsServer();
    moduleRef = await Test.createTestingModule({
      imports: [
        RequestTracingModule.forRoot({ logDestination: new LogCapture() }),
        RuntimeModule.forRoot({ components: [Quiet], transport: 'nats', nats: { url: nats.url } }),
      ],
      providers: [EarlySubscriber],
    }).compile();
    await moduleRef.init();
  }, 30_000);
  afterAll(async () => {
    await moduleRef?.close();
    await nats?.stop();
  });

  it('a subscription made in onModuleInit hears what is published once the app has started', async () => {
    const subscriber = moduleRef.get(EarlySubscriber);
    moduleRef.get(ComponentEvents).publish('greetings', { hello: 'world' });
    await waitUntil(() => subscriber.heard.length === 1, 5000);
    expect(subscriber.heard).toEqual([{ hello: 'world' }]);
    // One stopped before start-up was over never subscribes.
    expect(subscriber.stoppedHeard).toEqual([]);
  });
});
