import type { RuntimeModuleOptions } from '../runtime.options.js';
import type { ComponentTransport } from './component-transport.js';
import { InProcessTransport } from './in-process.transport.js';

/** The transport the options name; the one place that knows every kind. */
export function createTransport(options: RuntimeModuleOptions): ComponentTransport {
  switch (options.transport ?? 'inprocess') {
    case 'inprocess':
      return new InProcessTransport();
  }
}
