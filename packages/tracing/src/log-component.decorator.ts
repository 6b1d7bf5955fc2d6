import { copyMethodMetadata } from 'nestjs-cls';
import { isObservable } from 'rxjs';
import { bindAsyncIterable, bindObservable, isAsyncGenerator } from './context-binding.js';
import { deriveStore, getCurrentStore, runInStore } from './request-context.js';
import { isTracedWrapper } from './traced-call.js';
import { LOG_COMPONENT_WRAPPER } from './tracing.internal-constants.js';

type AnyMethod = (this: unknown, ...args: unknown[]) => unknown;

// Nest routes and message handlers carry one of these on their method.
const HANDLER_METADATA = ['path', 'microservices:pattern'];

interface LogComponentWrapped {
  method: AnyMethod;
  name: string;
}

/**
 * Names the component whose code a controller is: while its route or message handlers run, log lines
 * carry `component: name`, and so do the lines of a stream a handler returns (an async generator or an
 * Observable, an `@Sse()` handler's), whoever pulls from it. Done once, when the class is declared (each
 * handler is wrapped to run in the request's context with that name), so requests pay no interceptor.
 * @publicApi
 */
export function LogComponent(name: string): ClassDecorator {
  return (target) => {
    const prototype = target.prototype as Record<string, unknown>;
    for (const key of Object.getOwnPropertyNames(prototype)) {
      const descriptor = Object.getOwnPropertyDescriptor(prototype, key);
      const method = descriptor?.value as AnyMethod | undefined;
      if (key === 'constructor' || typeof method !== 'function') continue;
      if (!HANDLER_METADATA.some((metadataKey) => Reflect.hasMetadata(metadataKey, method))) continue;
      Object.defineProperty(prototype, key, { ...descriptor, value: withLogComponent(method, name) });
    }
  };
}

/** `method` running in the request's context with `component: name`, its returned stream bound to it. */
export function withLogComponent(method: AnyMethod, name: string): AnyMethod {
  // A `@Traced()` method binds what it returns to the context it runs in, this one.
  const bindsItsStream = isTracedWrapper(method);
  const named = {
    [method.name](this: unknown, ...args: unknown[]): unknown {
      const store = getCurrentStore();
      if (store === undefined) return method.apply(this, args);
      const derived = deriveStore(store, { component: name });
      const result = runInStore(derived, () => method.apply(this, args));
      if (bindsItsStream) return result;
      if (isAsyncGenerator(result)) return bindAsyncIterable(result, derived);
      return isObservable(result) ? bindObservable(result, derived) : result;
    },
  }[method.name] as AnyMethod;
  copyMethodMetadata(method, named);
  Object.defineProperty(named, LOG_COMPONENT_WRAPPER, { value: { method, name } satisfies LogComponentWrapped });
  return named;
}

/** What `@LogComponent()` wrapped, when `fn` is its wrapper. */
export function logComponentWrapped(fn: AnyMethod): LogComponentWrapped | undefined {
  return (fn as { [LOG_COMPONENT_WRAPPER]?: LogComponentWrapped })[LOG_COMPONENT_WRAPPER];
}
