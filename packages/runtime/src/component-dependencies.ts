import { getComponentIdentity } from './component.decorator.js';
import type { ComponentIdentity } from './component.decorator.js';
import { COMPONENT_METADATA, DEPENDENCIES_METADATA } from './runtime.internal-constants.js';
import type { ComponentClass } from './runtime.options.js';

/** One component a class calls, as `@InjectComponent()` declared it. */
interface Dependency {
  target: ComponentClass;
  /** The class serves its requests without any instance of it (it calls it on some paths only, or falls back). */
  optional: boolean;
}

/** Records that `owner` (a class, component or not) calls `target`. */
export function recordDependency(owner: object, target: ComponentClass, optional: boolean): void {
  const known = (Reflect.getOwnMetadata(DEPENDENCIES_METADATA, owner) as Dependency[] | undefined) ?? [];
  Reflect.defineMetadata(DEPENDENCIES_METADATA, [...known, { target, optional }], owner);
}

/**
 * The components that requests entering at `roots` need running: the roots that are components, and
 * every component they call, directly or through another, unless it is declared optional.
 */
export function requiredComponents(roots: readonly object[]): ComponentIdentity[] {
  return reachedComponents(roots).required;
}

/**
 * The components that requests entering at `roots` reach: `required` as `requiredComponents` says, and
 * `optional`, those reached only through a dependency declared optional (and what they call).
 */
export function reachedComponents(roots: readonly object[]): {
  required: ComponentIdentity[];
  optional: ComponentIdentity[];
} {
  const reached = (from: readonly object[], followOptional: boolean) => {
    const seen = new Set<object>();
    const found = new Map<string, ComponentIdentity>();
    const visit = (owner: object) => {
      if (seen.has(owner)) return;
      seen.add(owner);
      if (Reflect.hasOwnMetadata(COMPONENT_METADATA, owner)) {
        const identity = getComponentIdentity(owner as ComponentClass);
        found.set(`${identity.namespace}.${identity.name}`, identity);
      }
      const dependencies = (Reflect.getOwnMetadata(DEPENDENCIES_METADATA, owner) as Dependency[] | undefined) ?? [];
      for (const dependency of dependencies) if (followOptional || !dependency.optional) visit(dependency.target);
    };
    from.forEach(visit);
    return found;
  };
  const required = reached(roots, false);
  const optional = [...reached(roots, true)].filter(([key]) => !required.has(key)).map(([, identity]) => identity);
  return { required: [...required.values()], optional };
}
