import type { RequestIdResolver } from '@threadline/tracing/internal';
import type { RuntimeModuleOptions } from '../runtime.options.js';
import type { ComponentTransport } from './component-transport.js';
import { InProcessTransport } from './in-process.transport.js';

/**
 * The transport the options name; the one place that knows every kind. The NATS transport is loaded
 * only when chosen, so an app that runs in one process needs neither @nestjs/microservices nor the
 * NATS client installed (both are optional peer dependencies).
 */
export async function createTransport(
  options: RuntimeModuleOptions,
  resolver: RequestIdResolver,
): Promise<ComponentTransport> {
  switch (options.transport ?? 'inprocess') {
    case 'inprocess':
      return new InProcessTransport();
    case 'nats': {
      // Checked by `checkRuntimeOptions` as the module was defined.
      if (options.nats === undefined) throw new TypeError('RuntimeModule: transport "nats" needs the nats options.');
      const { NatsTransport } = await import('./nats/nats.transport.js');
      return new NatsTransport({ ...options.nats, shutdownGraceMs: options.nats.shutdownGraceMs ?? 10_000 }, resolver);
    }
  }
}
