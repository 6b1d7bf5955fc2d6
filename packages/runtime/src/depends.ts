import { Inject } from '@nestjs/common';
import type { FactoryProvider } from '@nestjs/common';
import { getComponentIdentity } from './component.decorator.js';
import { recordDependency } from './component-dependencies.js';
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

/** How a class depends on a component it injects. @publicApi */
export interface InjectComponentOptions {
  /**
   * The class serves its requests without any instance of the component (it calls it on some paths
   * only, or falls back): readiness does not wait for one.
   * @default false
   */
  optional?: boolean;
}

/**
 * Injects the client of a component class (the provider `depends()` makes), and records that the class
 * calls it: readiness (`RuntimeReadiness`) follows these records to the components a request needs.
 * @publicApi
 */
export function InjectComponent(
  target: ComponentClass,
  options: InjectComponentOptions = {},
): ParameterDecorator & PropertyDecorator {
  const inject = Inject(getComponentToken(target));
  return (owner: object, key: string | symbol | undefined, index?: number) => {
    // A constructor parameter's owner is the class; a property's is its prototype.
    recordDependency(typeof owner === 'function' ? owner : owner.constructor, target, options.optional ?? false);
    (inject as (owner: object, key: string | symbol | undefined, index?: number) => void)(owner, key, index);
  };
}
