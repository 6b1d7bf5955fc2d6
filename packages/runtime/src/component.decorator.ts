import { Injectable } from '@nestjs/common';
import { LogComponent } from '@threadline/tracing';
import { COMPONENT_METADATA } from './runtime.internal-constants.js';
import type { ComponentClass } from './runtime.options.js';

/** What `@Component()` declares about a class. @publicApi */
export interface ComponentOptions {
  /** The component's name: its log lines' `component` field and, with the namespace, its address. */
  name: string;
  /**
   * Groups the components of one service, so that two services can share a message bus.
   * @default 'threadline'
   */
  namespace?: string;
}

/** A component's identity once its defaults are applied. */
export interface ComponentIdentity {
  name: string;
  namespace: string;
}

const NAME = /^[a-z][a-z0-9-]{0,62}$/;

/**
 * Declares a class as a component: a unit of the service with named `@Endpoint()` methods that other
 * components reach through `depends()`, in this process or in another. It is also `@Injectable()`.
 * @publicApi
 */
export function Component(options: ComponentOptions): ClassDecorator {
  const identity: ComponentIdentity = { name: options.name, namespace: options.namespace ?? 'threadline' };
  for (const field of ['name', 'namespace'] as const) {
    const value = identity[field];
    if (!NAME.test(value)) {
      throw new TypeError(
        `@Component() ${field} "${value}" must be lower-case letters, digits and "-", starting with a letter.`,
      );
    }
  }
  return (target) => {
    Reflect.defineMetadata(COMPONENT_METADATA, identity, target);
    LogComponent(identity.name)(target);
    Injectable()(target);
  };
}

/** The identity `@Component()` gave `target`; throws a clear error for a class without it. */
export function getComponentIdentity(target: ComponentClass): ComponentIdentity {
  const identity = Reflect.getMetadata(COMPONENT_METADATA, target) as ComponentIdentity | undefined;
  if (identity === undefined) {
    throw new TypeError(`${target.name} is not a component: add @Component({ name }) to the class.`);
  }
  return identity;
}
