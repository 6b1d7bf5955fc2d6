import {
  createStore,
  endSpanWithIterator,
  generateRequestId,
  getCurrentStore,
  isRecordingSpans,
  randomUuid,
  requestIdOf,
  startSpan,
  cancelledFor,
  storeWithSpan,
} from '@threadline/tracing/internal';
import type { RequestStore, Span } from '@threadline/tracing/internal';
import type { ComponentIdentity } from '../component.decorator.js';
import type { CallOptions } from '../endpoint-context.js';
import { rpcSpanName } from '../rpc-span-name.js';
import type { LocalInstance } from '../local-instance.js';
import { stoppedCallFailure } from '../told-stop-reason.js';

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
  /** The caller's context (when spans are recorded, one whose current span is this call's `client` span). */
  store: RequestStore;
  /** This call's `client` span, when spans are recorded: a transport names the instance it reached. */
  span?: Span;
}

/** What readiness reports of a transport's message bus. */
export interface BusStatus {
  needed: boolean;
  connected: boolean;
  /** Where the bus is, when there is one. */
  url?: string;
}

/** Answers one process-wide query; `undefined` means no answer from this process. */
export type QueryHandler = (query: unknown) => unknown;

const NO_OPTIONS: CallOptions = Object.freeze({});

/**
 * The stream `call()` returns, dispatched when it is iterated: a failure to dispatch (no instance, say)
 * then surfaces where the caller iterates, as the stream's error. An object of a class, not a generator
 * (which would add a hop per item) nor an object literal with a closure under `Symbol.asyncIterator`
 * (V8 names a function defined under a computed key on every evaluation; bench:hop measures the call).
 */
class CallStream implements AsyncIterable<unknown> {
  constructor(
    private readonly transport: ComponentTransport,
    private readonly call: OutgoingCall,
    private readonly inSpan: boolean,
  ) {}

  [Symbol.asyncIterator](): AsyncIterator<unknown> {
    return this.transport.open(this.call, this.inSpan);
  }
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
    options: CallOptions = NO_OPTIONS,
  ): AsyncIterable<unknown> {
    const store = getCurrentStore() ?? createStore(generateRequestId());
    const call = { component, endpoint, request, requestId: requestIdOf(store), callId: randomUuid(), options, store };
    return new CallStream(this, call, isRecordingSpans());
  }

  /**
   * Dispatches `call` as its stream is iterated (`CallStream`), in a `client` span when `inSpan`. A call
   * of a request already cancelled (a component busy when its caller gave up, calling on once free) fails
   * as stopped and reaches no callee: its answer has nobody to go to.
   */
  open(call: OutgoingCall, inSpan: boolean): AsyncIterator<unknown> {
    const stopped = cancelledFor(call.store);
    if (stopped !== undefined) {
      const where = { requestId: call.requestId, component: call.component.name, endpoint: call.endpoint };
      throw stoppedCallFailure(stopped.reason, where);
    }
    return inSpan ? this.dispatchInSpan(call) : this.dispatch(call)[Symbol.asyncIterator]();
  }

  /**
   * Dispatches `call` in a `client` span, ended with its stream. The call carries a context whose current
   * span is that one, so the callee's `server` span is its child, in this process or through `traceparent`.
   */
  private dispatchInSpan(call: OutgoingCall): AsyncIterator<unknown> {
    const attributes: Record<string, string> = {
      'rpc.system': 'threadline',
      'rpc.service': call.component.name,
      'rpc.method': call.endpoint,
    };
    if (call.options.instance !== undefined) attributes['threadline.instance_id'] = call.options.instance;
    const span = startSpan(rpcSpanName(call.component.name, call.endpoint), 'client', attributes, call.store)!;
    try {
      const traced = { ...call, store: storeWithSpan(call.store, span), span };
      return endSpanWithIterator(this.dispatch(traced)[Symbol.asyncIterator](), span);
    } catch (error) {
      span.recordFailure(error).end();
      throw error;
    }
  }

  /** The id of instance `index` of a component in this process, unique wherever its peers run. */
  instanceId(componentName: string, index: number): string {
    return `${componentName}-${index}`;
  }

  /** Connects whatever the transport needs, before any instance starts or any call is made. */
  async start(): Promise<void> {}

  /** The message bus this transport needs, if any, and whether it is connected now. */
  bus(): BusStatus {
    return { needed: false, connected: true };
  }

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

  /** What this process answers to process-wide queries, by topic (see `ProcessQueries`). */
  protected readonly queryHandlers = new Map<string, QueryHandler>();

  /** Answers queries on `topic` from this process (one handler per topic); returns the function that stops it. */
  answerQueries(topic: string, handler: QueryHandler): () => void {
    if (this.queryHandlers.has(topic)) throw new Error(`Queries on "${topic}" are answered already in this process.`);
    this.queryHandlers.set(topic, handler);
    return () => {
      if (this.queryHandlers.get(topic) === handler) this.queryHandlers.delete(topic);
    };
  }

  /**
   * Asks every process of the service `query` on `topic` and resolves with the answers that came (this
   * process's among them). In one process only the local handler answers; a transport that spans
   * processes also collects theirs, until `timeoutMs` at most.
   */
  async ask(topic: string, query: unknown, _timeoutMs: number): Promise<unknown[]> {
    const local = await this.answerLocally(topic, query);
    return local === undefined ? [] : [local];
  }

  /** This process's answer, `undefined` when it answers no query on `topic` or its handler failed. */
  protected async answerLocally(topic: string, query: unknown): Promise<unknown> {
    const handler = this.queryHandlers.get(topic);
    if (handler === undefined) return undefined;
    try {
      return await handler(query);
    } catch {
      // One process's failing handler costs its answer, not the whole query.
      return undefined;
    }
  }

  /** Carries one call to an instance of its component and streams back its responses. */
  protected abstract dispatch(call: OutgoingCall): AsyncIterable<unknown>;
}
