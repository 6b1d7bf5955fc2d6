import type { RequestIdResolver } from '../../tracing/index.js';
import type { RuntimeModuleOptions } from '../runtime.options.js';
import type { ComponentTransport } from './component-transport.js';
import { InProcessTransport } from './in-process.transport.js';
import { NatsTransport } from './nats/nats.transport.js';

/** The transport the options name; the one place that knows every kind. */
export function createTransport(options: RuntimeModuleOptions, resolver: RequestIdResolver): ComponentTransport {
  switch (options.transport ?? 'inprocess') {
    case 'inprocess':
      return new InProcessTransport();
    case 'nats':
      if (options.nats === undefined) throw new TypeError('RuntimeModule: transport "nats" needs the nats options (url).');
      return new NatsTransport({ shutdownGraceMs: 10_000, ...options.nats }, resolver);
  }
}
