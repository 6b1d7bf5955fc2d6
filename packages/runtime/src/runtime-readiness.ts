import { Inject, Injectable } from '@nestjs/common';
import { reachedComponents } from './component-dependencies.js';
import { COMPONENT_TRANSPORT, RUNTIME_OPTIONS } from './runtime.internal-constants.js';
import type { RuntimeModuleOptions } from './runtime.options.js';
import type { BusStatus, ComponentTransport } from './transport/component-transport.js';

/** Whether this process can serve a request now, as `RuntimeReadiness.check()` finds it. @publicApi */
export interface ReadinessReport {
  /** The message bus the transport needs (`needed: false` in one process), and whether it is connected. */
  bus: BusStatus;
  /** Each component a request needs, with how many of its instances take calls now (0: it is missing). */
  components: Array<{ name: string; instances: number }>;
  /**
   * Each component a request may call without needing it (reached only through an
   * `@InjectComponent(X, { optional: true })`), with how many of its instances take calls now: not
   * needed to be ready, told so that a probe can show it.
   */
  optional: Array<{ name: string; instances: number }>;
}

/**
 * What this process needs to serve a request, and whether it has it: the bus connected, and a live
 * instance of every component its requests reach. Those are the components it serves, the extra entry
 * points it is given (a controller, say), and every component they call through `@InjectComponent()`,
 * directly or not, unless declared optional (those are reported apart, as `optional`).
 * @publicApi
 */
@Injectable()
export class RuntimeReadiness {
  constructor(
    @Inject(RUNTIME_OPTIONS) private readonly options: RuntimeModuleOptions,
    @Inject(COMPONENT_TRANSPORT) private readonly transport: ComponentTransport,
  ) {}

  /** `entryPoints`: classes besides the served components whose requests this process takes. */
  async check(entryPoints: readonly object[] = []): Promise<ReadinessReport> {
    const bus = this.transport.bus();
    const { required, optional } = reachedComponents([
      ...(this.options.serve ?? this.options.components),
      ...entryPoints,
    ]);
    const count = (identities: typeof required) =>
      Promise.all(
        identities.map(async (component) => ({
          name: component.name,
          instances: (await this.transport.instances(component)).length,
        })),
      );
    const [components, optionalComponents] = await Promise.all([count(required), count(optional)]);
    return { bus, components, optional: optionalComponents };
  }
}
