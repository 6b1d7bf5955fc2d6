import { describe, expect, it } from 'vitest';
import { Component } from './component.decorator.js';
import { RuntimeModule } from './runtime.module.js';
import type { RuntimeModuleOptions } from './runtime.options.js';

@Component({ name: 'greeter' })
class Greeter {}

@Component({ name: 'counter' })
class Counter {}

describe('RuntimeModule.forRoot() options', () => {
  const components = [Greeter, Counter];

  it.each([
    [{ transport: 'in-process' }, /"transport": must be "inprocess" or "nats", got "in-process"/],
    [{ transport: 'nats' }, /"nats": transport "nats" needs the nats options/],
    [{ replicas: { greeterz: 2 } }, /"replicas.greeterz": the service has no component named "greeterz"/],
    [{ replicas: { greeter: -1 } }, /"replicas.greeter": must be a whole number, got -1/],
    [{ replicas: { greeter: 2.5 } }, /"replicas.greeter": must be a whole number, got 2.5/],
    [{ replicas: { greeter: '3' } }, /"replicas.greeter": must be a whole number, got "3"/],
  ])('refuses %j, naming the option', (options, message) => {
    expect(() => RuntimeModule.forRoot({ components, ...(options as Partial<RuntimeModuleOptions>) })).toThrow(message);
  });

  it('takes replicas of a component this process does not serve, and 0 of one it does', () => {
    expect(() =>
      RuntimeModule.forRoot({ components, serve: [Greeter], replicas: { counter: 2, greeter: 0 } }),
    ).not.toThrow();
  });
});
