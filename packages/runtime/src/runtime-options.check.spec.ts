import { describe, expect, it } from 'vitest';
import { Component } from './component.decorator.js';
import { RuntimeModule } from './runtime.module.js';
import type { RuntimeModuleOptions } from './runtime.options.js';

@Component({ name: 'greeter' })
class Greeter {}

@Component({ name: 'counter' })
class Counter {}

/** Another class of the same name as Greeter's: its client would take Greeter's place. */
@Component({ name: 'greeter' })
class OtherGreeter {}

const NATS = 'nats://127.0.0.1:4222';

describe('RuntimeModule.forRoot() options', () => {
  const components = [Greeter, Counter];

  it.each([
    [{ transport: 'in-process' }, /"transport": must be "inprocess" or "nats", got "in-process"/],
    [{ transport: 'nats' }, /"nats": transport "nats" needs the nats options/],
    [{ replicas: { greeterz: 2 } }, /"replicas.greeterz": the service has no component named "greeterz"/],
    [{ replicas: { greeter: -1 } }, /"replicas.greeter": must be a whole number, got -1/],
    [{ replicas: { greeter: 2.5 } }, /"replicas.greeter": must be a whole number, got 2.5/],
    [{ replicas: { greeter: '3' } }, /"replicas.greeter": must be a whole number, got "3"/],
    [
      { transport: 'nats', nats: { url: NATS, shutdownGraceMs: -5 } },
      /"nats.shutdownGraceMs": must be a number of at least 0, got -5/,
    ],
    [{ transport: 'nats', nats: { url: NATS, shutdownGraceMs: 'abc' } }, /"nats.shutdownGraceMs": .* got "abc"/],
    [
      { transport: 'nats', nats: { url: NATS, maxMessageBytes: 0 } },
      /"nats.maxMessageBytes": must be a whole number of at least 1, got 0/,
    ],
    [
      { transport: 'nats', nats: { url: NATS, pacing: { frames: 1.5 } } },
      /"nats.pacing.frames": must be a whole number/,
    ],
    [
      { transport: 'nats', nats: { url: NATS, pacing: { stallMs: 0 } } },
      /"nats.pacing.stallMs": must be a number of at least 1/,
    ],
    [{ transport: 'nats', nats: { url: NATS, pacing: true } }, /"nats.pacing": must be false or an object, got true/],
    [
      { components: [Greeter, Counter, OtherGreeter] },
      /"components": Greeter and OtherGreeter are both named "greeter"/,
    ],
  ])('refuses %j, naming the option', (options, message) => {
    expect(() => RuntimeModule.forRoot({ components, ...(options as Partial<RuntimeModuleOptions>) })).toThrow(message);
  });

  it('takes NATS settings left undefined as their defaults', () => {
    const nats = { url: NATS, shutdownGraceMs: undefined, maxMessageBytes: undefined, pacing: { frames: undefined } };
    expect(() => RuntimeModule.forRoot({ components, transport: 'nats', nats })).not.toThrow();
  });

  it('takes replicas of a component this process does not serve, and 0 of one it does', () => {
    expect(() =>
      RuntimeModule.forRoot({ components, serve: [Greeter], replicas: { counter: 2, greeter: 0 } }),
    ).not.toThrow();
  });
});
