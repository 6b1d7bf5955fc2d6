import { copyMethodMetadata } from 'nestjs-cls';
import { deriveStore, getCurrentStore, runInStore } from './request-context.js';

type AnyMethod = (this: unknown, ...args: unknown[]) => unknown;

// Nest routes and message handlers carry one of these on their method.
const HANDLER_METADATA = ['path', 'microservices:pattern'];

/**
 * Names the component whose code a controller is: while its route or message handlers run, log lines
 * carry `component: name`. Done once, when the class is declared (each handler is wrapped to run in
 * the request's context with that name), so requests pay no interceptor for it.
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
      const named = {
        [method.name](this: unknown, ...args: unknown[]): unknown {
          const store = getCurrentStore();
          return store === undefined
            ? method.apply(this, args)
            : runInStore(deriveStore(store, { component: name }), () => method.apply(this, args));
        },
      }[method.name] as AnyMethod;
      copyMethodMetadata(method, named);
      Object.defineProperty(prototype, key, { ...descriptor, value: named });
    }
  };
}
