import { describe, expect, it } from 'vitest';
import type { RequestIdResolver } from '@threadline/tracing/internal';
import { Component } from '../component.decorator.js';
import { createTransport } from './transport.factory.js';

@Component({ name: 'greeter' })
class Greeter {}

/** What the NATS transport was made with, read from its private fields (nothing is connected). */
interface NatsInternals {
  options: { shutdownGraceMs: number };
  credit: { frames: number; bytes: number } | undefined;
}

describe('createTransport', () => {
  it('gives NATS settings written as undefined their defaults, as if left out', async () => {
    const transport = await createTransport(
      {
        components: [Greeter],
        transport: 'nats',
        nats: { url: 'nats://127.0.0.1:4222', shutdownGraceMs: undefined, pacing: { frames: undefined, bytes: 1024 } },
      },
      {} as RequestIdResolver,
    );
    const internals = transport as unknown as NatsInternals;
    expect(internals.options.shutdownGraceMs).toBe(10_000);
    expect(internals.credit).toEqual({ frames: 256, bytes: 1024 });
  });
});
