import { createStore, generateRequestId, getCurrentStore, randomUuid, requestIdOf } from '@threadline/tracing/internal';
import type { RequestStore } from '@threadline/tracing/internal';
import type { ComponentIdentity } from '../component.decorator.js';
import type { CallOptions } from '../endpoint-context.js';
import type { LocalInstance } from '../local-instance.js';

/** One call as a transport carries it: plain data, plus the caller's context in this process. */
export interface OutgoingCall {
  component: ComponentIdentity;
  endpoint: string;
  request: unknown;
  /** The caller's request id, sent along (in-process: the same context; NATS: a header). */
  requestId: string;
  /** This call's own id: cancellation is keyed by it, never by the request id. */
  callId: string;
  options: CallOptions;
  /** The caller's context. */
  store: RequestStore;
}

/**
 * How component clients reach endpoints. The public `call()` is the same for every transport: it
 * attaches the request id (opening a context when the caller has none) and a per-call id; each
 * transport implements the protected hooks. Components never branch on where a peer runs.
 */
export abstract class ComponentTransport {
  /** Streams the responses of `component.endpoint(request)`. Stopping the iteration cancels the call. */
  call(
    component: ComponentIdentity,
    endpoint: string,
    request: unknown,
    options: CallOptions = {},
  ): AsyncIterable<unknown> {
    const store = getCurrentStore() ?? createStore(generateRequestId());
    const call = { component, endpoint, request, requestId: requestIdOf(store), callId: randomUuid(), options, store };
    // Dispatched when iterated, so a failure to dispatch (no instance, say) surfaces where the caller
    // iterates, as the stream's error; an object rather than a generator spares every item a hop.
    return { [Symbol.asyncIterator]: () => this.dispatch(call)[Symbol.asyncIterator]() };
  }

  /** The id of instance `index` of a component in this process, unique wherever its peers run. */
  instanceId(componentName: string, index: number): string {
    return `${componentName}-${index}`;
  }

  /** Connects whatever the transport needs, before any instance starts or any call is made. */
  async start(): Promise<void> {}

  /** The ids of the component's instances that can take calls now. */
  abstract instances(component: ComponentIdentity): Promise<string[]>;

  /** Starts serving the given local instances to callers. */
  abstract serve(instances: readonly LocalInstance[]): Promise<void>;

  /** Sends `payload` to every subscriber of `topic`, in every process of the service (fire and forget). */
  abstract publish(topic: string, payload: unknown): void;

  /** Calls `handler` with every payload published on `topic`; returns the function that stops it. */
  abstract subscribe(topic: string, handler: (payload: unknown) => void): () => void;

  /** Stops taking calls and releases connections. */
  abstract close(): Promise<void>;

  /** Carries one call to an instance of its component and streams back its responses. */
  protected abstract dispatch(call: OutgoingCall): AsyncIterable<unknown>;
}
