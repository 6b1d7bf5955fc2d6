import type { ComponentIdentity } from '../component.decorator.js';
import { EndpointError } from '../endpoint.error.js';
import { invokeEndpoint } from '../endpoint-invoker.js';
import type { LocalInstance } from '../local-instance.js';
import { RoundRobin } from '../round-robin.js';
import { ComponentTransport } from './component-transport.js';
import type { OutgoingCall } from './component-transport.js';

/**
 * Each component's address, made once: every call looks its component's instances up by it, and a string
 * made anew for every call would be hashed anew for every lookup.
 */
const addresses = new WeakMap<ComponentIdentity, string>();

/** The address of a component: its namespace and name. */
export function componentAddress(component: ComponentIdentity): string {
  let address = addresses.get(component);
  if (address === undefined) {
    address = `${component.namespace}.${component.name}`;
    addresses.set(component, address);
  }
  return address;
}

/**
 * Calls endpoints of instances in this process directly: the callee runs in the caller's request context
 * (same id, same AbortSignal), and stopping the caller's iteration stops the callee's generator.
 */
export class InProcessTransport extends ComponentTransport {
  private readonly served = new Map<string, LocalInstance[]>();
  private readonly subscribers = new Map<string, Set<(payload: unknown) => void>>();
  private readonly turns = new RoundRobin();

  async serve(instances: readonly LocalInstance[]): Promise<void> {
    for (const local of instances) {
      const address = componentAddress(local.identity);
      this.served.set(address, [...(this.served.get(address) ?? []), local]);
    }
  }

  async instances(component: ComponentIdentity): Promise<string[]> {
    return (this.served.get(componentAddress(component)) ?? []).map((local) => local.instanceId);
  }

  publish(topic: string, payload: unknown): void {
    // Delivered on a later tick, as a message bus would: a publisher never runs its subscribers' code.
    const handlers = [...(this.subscribers.get(topic) ?? [])];
    if (handlers.length > 0) queueMicrotask(() => handlers.forEach((handler) => handler(payload)));
  }

  subscribe(topic: string, handler: (payload: unknown) => void): () => void {
    const handlers = this.subscribers.get(topic) ?? new Set();
    handlers.add(handler);
    this.subscribers.set(topic, handlers);
    return () => handlers.delete(handler);
  }

  async close(): Promise<void> {
    this.served.clear();
    this.subscribers.clear();
  }

  protected dispatch(call: OutgoingCall): AsyncIterable<unknown> {
    const local = this.pick(call);
    call.span?.setAttribute('threadline.instance_id', local.instanceId);
    return invokeEndpoint(local, call.endpoint, call.request, call.store, call.callId);
  }

  private pick(call: OutgoingCall): LocalInstance {
    const address = componentAddress(call.component);
    const candidates = this.served.get(address) ?? [];
    const where = { requestId: call.requestId, component: call.component.name, endpoint: call.endpoint };
    if (call.options.instance !== undefined) {
      const chosen = candidates.find((local) => local.instanceId === call.options.instance);
      if (chosen === undefined) {
        throw new EndpointError({
          ...where,
          message: `No instance "${call.options.instance}" of ${address} is running.`,
          status: 503,
          code: 'instance_unavailable',
        });
      }
      return chosen;
    }
    if (candidates.length === 0) {
      throw new EndpointError({
        ...where,
        message: `No instance of ${address} is running.`,
        status: 503,
        code: 'component_unavailable',
      });
    }
    // Round-robin, for callers that leave the choice to the transport.
    return this.turns.pick(candidates, address);
  }
}
