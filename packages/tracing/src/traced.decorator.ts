import { copyMethodMetadata } from 'nestjs-cls';
import { logComponentWrapped, withLogComponent } from './log-component.decorator.js';
import { getRequestIdParams } from './request-id-params.js';
import { isTracedWrapper, traceMethod } from './traced-call.js';
import { TRACED_ENDPOINT_METADATA } from './request-tracing.constants.js';

type AnyMethod = (this: unknown, ...args: unknown[]) => unknown;

// Metadata that marks a method as an entry point: Nest routes (`@Get`, `@Sse`, …), message and event
// handlers of @nestjs/microservices, and anything else that sets TRACED_ENDPOINT_METADATA.
const ENTRY_POINT_METADATA = ['path', 'microservices:pattern', TRACED_ENDPOINT_METADATA];

/**
 * Traces a method, or every entry-point method of a class: each call runs in a request context (the
 * caller's, or a new one), logs start, end, duration and failure with the id, and returns its Promise,
 * async generator or Observable bound to that context. Errors are rethrown, never swallowed.
 * @publicApi
 */
export function Traced(): ClassDecorator & MethodDecorator {
  return ((target: object, key?: string | symbol, descriptor?: PropertyDescriptor) => {
    if (key === undefined) {
      traceClass(target as { prototype: object; name: string });
      return;
    }
    if (typeof descriptor?.value !== 'function') {
      throw new TypeError(`@Traced() goes on a class or a method; ${String(key)} is not a method.`);
    }
    descriptor.value = wrap(descriptor.value as AnyMethod, target, key, target.constructor.name);
    return descriptor;
  }) as ClassDecorator & MethodDecorator;
}

function traceClass(target: { prototype: object; name: string }): void {
  const prototype = target.prototype as Record<string, unknown>;
  for (const key of Object.getOwnPropertyNames(prototype)) {
    const descriptor = Object.getOwnPropertyDescriptor(prototype, key);
    const method = descriptor?.value as AnyMethod | undefined;
    if (key === 'constructor' || typeof method !== 'function' || isTracedWrapper(method)) continue;
    const isEntryPoint =
      ENTRY_POINT_METADATA.some((metadataKey) => Reflect.hasMetadata(metadataKey, method)) ||
      getRequestIdParams(prototype, key).length > 0;
    if (!isEntryPoint) continue;
    Object.defineProperty(prototype, key, { ...descriptor, value: wrap(method, prototype, key, target.name) });
  }
}

function wrap(method: AnyMethod, prototype: object, key: string | symbol, className: string): AnyMethod {
  if (isTracedWrapper(method)) return method;
  // Under `@LogComponent()` (declared below this decorator): trace what it wraps and name the component
  // outside, so that the traced call's own lines carry the name, whichever order the decorators are in.
  const named = logComponentWrapped(method);
  if (named !== undefined) return withLogComponent(wrap(named.method, prototype, key, className), named.name);
  const traced = traceMethod(method, `${className}.${String(key)}`, getRequestIdParams(prototype, key));
  copyMethodMetadata(method, traced);
  return traced;
}
