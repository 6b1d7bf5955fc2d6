import { Inject, Injectable, Logger } from '@nestjs/common';
import type { OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { getComponentIdentity } from './component.decorator.js';
import { getEndpoints } from './endpoint.decorator.js';
import type { LocalInstance, OnComponentStart, OnComponentStop } from './local-instance.js';
import { COMPONENT_TRANSPORT, RUNTIME_OPTIONS } from './runtime.internal-constants.js';
import type { ComponentClass, RuntimeModuleOptions } from './runtime.options.js';
import type { ComponentTransport } from './transport/component-transport.js';

/**
 * Starts the instances of the components this process serves (as many of each as `replicas` says),
 * hands them to the transport, and stops them on shutdown.
 */
@Injectable()
export class ComponentHost implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Runtime');
  private readonly running: LocalInstance[] = [];

  constructor(
    @Inject(RUNTIME_OPTIONS) private readonly options: RuntimeModuleOptions,
    @Inject(COMPONENT_TRANSPORT) private readonly transport: ComponentTransport,
    private readonly moduleRef: ModuleRef,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.transport.start();
    for (const target of this.options.serve ?? this.options.components) {
      const identity = getComponentIdentity(target);
      const replicas = this.options.replicas?.[identity.name] ?? 1;
      for (let index = 0; index < replicas; index++) {
        this.running.push(await this.start(target, this.transport.instanceId(identity.name, index), index));
      }
    }
    await this.transport.serve(this.running);
    const summary = this.running.map((local) => local.instanceId).join(', ');
    this.logger.log(`serving ${summary || 'no components'}`);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.transport.close();
    for (const local of this.running.splice(0)) {
      await (local.instance as Partial<OnComponentStop>).onComponentStop?.();
    }
  }

  private async start(target: ComponentClass, instanceId: string, index: number): Promise<LocalInstance> {
    const instance = await this.moduleRef.create<object>(target as never);
    await (instance as Partial<OnComponentStart>).onComponentStart?.({ instanceId, index });
    const endpoints = new Map(getEndpoints(target).map((endpoint) => [endpoint.name, endpoint]));
    return { identity: getComponentIdentity(target), instanceId, endpoints, instance };
  }
}
