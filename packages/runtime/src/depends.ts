import { Inject } from '@nestjs/common';
import type { FactoryProvider } from '@nestjs/common';
import { getComponentIdentity } from './component.decorator.js';
import { createComponentClient } from './component-client.js';
import { COMPONENT_TRANSPORT } from './runtime.internal-constants.js';
import type { ComponentClass } from './runtime.options.js';
import type { ComponentTransport } from './transport/component-transport.js';

/** The DI token of the client of a component class. @publicApi */
export function getComponentToken(target: ComponentClass): string {
  const { namespace, name } = getComponentIdentity(target);
  return `THREADLINE:COMPONENT_CLIENT:${namespace}.${name}`;
}

/**
 * `depends(ProcessorComponent)`: the provider of a typed client of that component, in this process or
 * another by configuration. `RuntimeModule` registers one for each of its components; inject it with
 * `@InjectComponent(ProcessorComponent)`.
 * @publicApi
 */
export function depends(target: ComponentClass): FactoryProvider {
  return {
    provide: getComponentToken(target),
    inject: [COMPONENT_TRANSPORT],
    useFactory: (transport: ComponentTransport) => createComponentClient(target, transport),
  };
}

/** Injects the client of a component class (the provider `depends()` makes). @publicApi */
export function InjectComponent(target: ComponentClass): ParameterDecorator & PropertyDecorator {
  return Inject(getComponentToken(target));
}
