import { TRACED_ENDPOINT_METADATA } from '@threadline/tracing/internal';
import { ENDPOINTS_METADATA } from './runtime.internal-constants.js';

/** One `@Endpoint()` of a component class. */
export interface EndpointDefinition {
  /** The name callers address it by. */
  name: string;
  /** The method that implements it. */
  method: string;
}

const NAME = /^[a-z][a-zA-Z0-9_-]{0,62}$/;

/**
 * Declares a method as an endpoint of its component. Every endpoint is a stream: one request in, any
 * number of responses out. A method may return an async iterable, an Observable, or a Promise (a stream
 * of one). It receives `(request, context)`, with the call's `EndpointContext`.
 * @publicApi
 */
export function Endpoint(name?: string): MethodDecorator {
  return (target, key, descriptor) => {
    if (typeof descriptor.value !== 'function' || typeof key !== 'string') {
      throw new TypeError(`@Endpoint() goes on a method; ${String(key)} is not one.`);
    }
    const endpoint = { name: name ?? key, method: key };
    if (!NAME.test(endpoint.name))
      throw new TypeError(`@Endpoint() name "${endpoint.name}" is not a valid endpoint name.`);
    const existing = getEndpoints(target.constructor);
    Reflect.defineMetadata(ENDPOINTS_METADATA, [...existing, endpoint], target.constructor);
    Reflect.defineMetadata(TRACED_ENDPOINT_METADATA, true, descriptor.value);
  };
}

/** The endpoints of a component class, in declaration order. */
export function getEndpoints(target: object): readonly EndpointDefinition[] {
  return (Reflect.getOwnMetadata(ENDPOINTS_METADATA, target) as EndpointDefinition[] | undefined) ?? [];
}
