import type { Observable } from 'rxjs';
import type { ComponentIdentity } from './component.decorator.js';
import { getComponentIdentity } from './component.decorator.js';
import { getEndpoints } from './endpoint.decorator.js';
import type { CallOptions } from './endpoint-context.js';
import type { ComponentClass } from './runtime.options.js';
import type { ComponentTransport } from './transport/component-transport.js';

/** The items of an endpoint's stream, whatever shape its method returns. */
export type StreamItem<R> =
  R extends AsyncIterable<infer U> ? U : R extends Observable<infer U> ? U : R extends Promise<infer U> ? U : R;

/** The methods of `T` that can be endpoints (`@Endpoint()` marks which ones are, at run time). */
type EndpointKeys<T> = {
  [K in keyof T]: T[K] extends (request: never, ...rest: never[]) => unknown ? K : never;
}[keyof T];

/**
 * A typed client of component `T`, wherever its instances run: one method per endpoint method of `T`,
 * taking the request and returning the endpoint's stream.
 * @publicApi
 */
export type ComponentClient<T> = {
  [K in EndpointKeys<T>]: T[K] extends (request: infer Req, ...rest: never[]) => infer Res
    ? (request: Req, options?: CallOptions) => AsyncIterable<StreamItem<Res>>
    : never;
} & {
  /** The component's identity. */
  readonly component: ComponentIdentity;
  /** The ids of the component's instances that can take calls now. */
  instances(): Promise<string[]>;
};

/** Builds the client of component class `target` over `transport`. */
export function createComponentClient<T>(target: ComponentClass<T>, transport: ComponentTransport): ComponentClient<T> {
  const component = getComponentIdentity(target);
  const client: Record<string, unknown> = {
    component,
    instances: () => transport.instances(component),
  };
  for (const endpoint of getEndpoints(target)) {
    client[endpoint.method] = (request: unknown, options?: CallOptions) =>
      transport.call(component, endpoint.name, request, options);
  }
  return client as ComponentClient<T>;
}
