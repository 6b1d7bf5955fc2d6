import { Module } from '@nestjs/common';
import type { DynamicModule } from '@nestjs/common';
import { RequestIdResolver } from '@threadline/tracing/internal';
import { ComponentEvents } from './component-events.js';
import { ProcessQueries } from './process-queries.js';
import { RuntimeReadiness } from './runtime-readiness.js';
import { ComponentHost } from './component-host.js';
import { depends, getComponentToken } from './depends.js';
import { COMPONENT_TRANSPORT, RUNTIME_OPTIONS } from './runtime.internal-constants.js';
import { checkRuntimeOptions } from './runtime-options.check.js';
import type { RuntimeModuleOptions } from './runtime.options.js';
import { createTransport } from './transport/transport.factory.js';

/**
 * The component runtime: a client (`depends()`) for every component of the service, injectable
 * anywhere with `@InjectComponent()`, and the instances of the components this process serves.
 * @publicApi
 */
@Module({})
export class RuntimeModule {
  static forRoot(options: RuntimeModuleOptions): DynamicModule {
    checkRuntimeOptions(options);
    const clients = options.components.map((target) => depends(target));
    return {
      module: RuntimeModule,
      global: true,
      imports: options.imports ?? [],
      providers: [
        { provide: RUNTIME_OPTIONS, useValue: options },
        {
          provide: COMPONENT_TRANSPORT,
          inject: [RequestIdResolver],
          useFactory: (resolver: RequestIdResolver) => createTransport(options, resolver),
        },
        ...clients,
        ComponentHost,
        ComponentEvents,
        ProcessQueries,
        RuntimeReadiness,
      ],
      exports: [
        COMPONENT_TRANSPORT,
        ComponentEvents,
        ProcessQueries,
        RuntimeReadiness,
        ...options.components.map((target) => getComponentToken(target)),
      ],
    };
  }
}
