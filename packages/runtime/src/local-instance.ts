import type { ComponentIdentity } from './component.decorator.js';
import type { EndpointDefinition } from './endpoint.decorator.js';

/** What the runtime tells a component instance when it starts. @publicApi */
export interface ComponentInstanceInfo {
  /** Unique among the instances of the component, e.g. `worker-1`. */
  instanceId: string;
  /** 0 to replicas − 1, among the instances of this component in this process. */
  index: number;
}

/** A component that wants to know its instance id, or to prepare before it serves. @publicApi */
export interface OnComponentStart {
  onComponentStart(info: ComponentInstanceInfo): void | Promise<void>;
}

/** A component that releases resources when the runtime stops. @publicApi */
export interface OnComponentStop {
  onComponentStop(): void | Promise<void>;
}

/** One instance of a component served by this process. */
export interface LocalInstance {
  identity: ComponentIdentity;
  instanceId: string;
  endpoints: ReadonlyMap<string, EndpointDefinition>;
  instance: object;
}
