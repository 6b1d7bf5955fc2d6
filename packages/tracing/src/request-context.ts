import { AsyncLocalStorage, AsyncResource } from 'node:async_hooks';
import { CLS_ID, ClsServiceManager } from 'nestjs-cls';
import type { ClsStore } from 'nestjs-cls';
import { RequestCancellation } from './request-cancellation.js';
import type { Span } from './spans/span.js';

/**
 * The request context lives in nestjs-cls's process-wide AsyncLocalStorage, so an app that also uses
 * `ClsModule` sees the same context, and `ClsService#getId()` returns the request id.
 */
const cls = ClsServiceManager.getClsService();

const COMPONENT = Symbol.for('threadline:component');
const CANCELLATION = Symbol.for('threadline:cancellation');
const TRACEPARENT = Symbol.for('threadline:traceparent');
const TRACESTATE = Symbol.for('threadline:tracestate');
const SPAN = Symbol.for('threadline:span');
const DEADLINE = Symbol.for('threadline:deadline');

/** What a request's context holds. Each request gets its own object; nothing is shared between requests. */
export interface RequestStore extends ClsStore {
  [CLS_ID]: string;
  /** The component whose code runs, for the `component` field of log lines. */
  [COMPONENT]?: string;
  /** Shared by every hop of the request in this process. */
  [CANCELLATION]?: RequestCancellation;
  /** The caller's W3C trace context, passed on with the id. */
  [TRACEPARENT]?: string;
  /** The caller's W3C `tracestate`, with its valid `traceparent` only: passed on as it came. */
  [TRACESTATE]?: string;
  /** The span of the code that runs in this context, when spans are recorded: the parent of the next. */
  [SPAN]?: Span;
  /** When the request must be done by (epoch ms): calls made in it carry it to their callees. */
  [DEADLINE]?: number;
}

/** The id of the request being handled, or `undefined` outside any request context. @publicApi */
export function getCurrentRequestId(): string | undefined {
  return cls.getId();
}

/** The component whose code is running in the current request, if the runtime set one. @publicApi */
export function getCurrentComponent(): string | undefined {
  return getCurrentStore()?.[COMPONENT];
}

/**
 * The current request's `AbortSignal`: it aborts when the client goes away (HTTP) or the remote caller
 * cancels (RPC). `undefined` outside a request context.
 * @publicApi
 */
export function getRequestSignal(): AbortSignal | undefined {
  const store = getCurrentStore();
  return store === undefined ? undefined : requestSignalOf(store);
}

/** Whether the current request has been cancelled (its client gone, its caller cancelled). @publicApi */
export function isRequestCancelled(): boolean {
  return getCurrentStore()?.[CANCELLATION]?.aborted ?? false;
}

/** The current request's deadline (epoch ms), if it has one: its calls carry it. @publicApi */
export function getRequestDeadline(): number | undefined {
  return getCurrentStore()?.[DEADLINE];
}

/**
 * Gives the current request a deadline (epoch ms), or a nearer one than it has: its signal aborts with
 * a `DeadlineExceededError` when it passes, and every call it makes carries it. An HTTP request's timer
 * is let go when its response completes. Does nothing outside a request context.
 * @publicApi
 */
export function setRequestDeadline(deadline: number): void {
  const store = getCurrentStore();
  if (store === undefined) return;
  const current = store[DEADLINE];
  if (current !== undefined && current <= deadline) return;
  store[DEADLINE] = deadline;
  cancellationOf(store).abortAt(deadline);
}

/** The deadline of `store`'s request (epoch ms), if it has one. */
export function deadlineOf(store: RequestStore): number | undefined {
  return store[DEADLINE];
}

/** Records the deadline a remote caller sent; enforcing it is the receiver's (it owns the call's signal). */
export function setDeadlineOf(store: RequestStore, deadline: number): void {
  store[DEADLINE] = deadline;
}

/** The current context's store, to bind work that will run later (a stream, a callback) to it. */
export function getCurrentStore(): RequestStore | undefined {
  const store = cls.get() as RequestStore | undefined;
  return store?.[CLS_ID] === undefined ? undefined : store;
}

/**
 * The store's cancellation, made on first use (most requests never need one). Made up front for a
 * store that will be copied (nestjs-cls's middleware copies the context it runs in), so that the copy
 * shares it.
 */
export function cancellationOf(store: RequestStore): RequestCancellation {
  return (store[CANCELLATION] ??= new RequestCancellation());
}

/** Cancels the request of `store`: its signal aborts with `reason`, at once or when first asked for. */
export function cancelStore(store: RequestStore, reason: unknown): void {
  // In the request's context: its signal's listeners run now, from wherever the cancellation came (a
  // socket's close, a shutdown), and what they log or start belongs to the request.
  runInStore(store, () => cancellationOf(store).abort(reason));
}

/**
 * Drops a store's hold on its cancellation once its request can no longer be cancelled (its response
 * is complete), so that a context which outlives its request keeps nothing the signal's listeners hold.
 * A signal asked for afterwards is a new one that never aborts.
 */
export function releaseCancellation(store: RequestStore): void {
  const cancellation = store[CANCELLATION];
  if (cancellation === undefined) return;
  cancellation.release();
  store[CANCELLATION] = undefined;
}

/** A new context for request `id`, cancelled through `cancellation`, in the caller's trace context. */
export function createStore(
  id: string,
  cancellation?: RequestCancellation,
  traceparent?: string,
  tracestate?: string,
): RequestStore {
  // Every field is assigned, in one order, whether it has a value or not, so that every store (and every
  // copy `deriveStore` makes) has one hidden class: a field added later to some stores only would give
  // them others, and the code that reads stores would then look its fields up the slow way. The id is
  // assigned, not written as a computed key of the literal: some requests (an X-Request-Id ahead of
  // Host, as node:http sends it) had V8 build that literal through its runtime every time
  // (bench/README.md, "The order of a request's headers").
  const store = {} as RequestStore;
  store[CLS_ID] = id;
  store[COMPONENT] = undefined;
  store[CANCELLATION] = cancellation;
  store[TRACEPARENT] = traceparent;
  store[TRACESTATE] = traceparent === undefined ? undefined : tracestate;
  store[SPAN] = undefined;
  store[DEADLINE] = undefined;
  return store;
}

/**
 * The W3C `traceparent` to pass on from the current context: the current span's when spans are
 * recorded, else the caller's when it sent a valid one.
 * @publicApi
 */
export function getCurrentTraceparent(): string | undefined {
  const store = getCurrentStore();
  return store === undefined ? undefined : outboundTraceparentOf(store);
}

/** The `traceparent` to pass on from `store`: `getCurrentTraceparent()` for a store that is not current. */
export function outboundTraceparentOf(store: RequestStore): string | undefined {
  return store[SPAN]?.traceparent ?? store[TRACEPARENT];
}

/**
 * Why the request of `store` was cancelled, once it was (`{ reason }`); undefined while it is not, read
 * without making the signal of a request that nobody asked for one.
 */
export function cancelledFor(store: RequestStore): { reason: unknown } | undefined {
  const cancellation = store[CANCELLATION];
  return cancellation?.aborted === true ? { reason: cancellation.signal.reason } : undefined;
}

/** The signal of `store`'s request: `getRequestSignal()` for a store that is not current. */
export function requestSignalOf(store: RequestStore): AbortSignal {
  return cancellationOf(store).signal;
}

/**
 * Calls `listener` once when the request of `store` is cancelled, without making its signal; returns
 * the function that stops listening (`RequestCancellation.onAbort`).
 */
export function onRequestCancelled(store: RequestStore, listener: (reason: unknown) => void): () => void {
  return cancellationOf(store).onAbort(listener);
}

/** The `tracestate` to pass on from `store`: its caller's, as it came (spans here add no member). */
export function tracestateOf(store: RequestStore): string | undefined {
  return store[TRACESTATE];
}

/** The caller's `traceparent` a store was opened with, if valid. */
export function incomingTraceparentOf(store: RequestStore): string | undefined {
  return store[TRACEPARENT];
}

/** The span current in `store`, if any. */
export function spanOf(store: RequestStore): Span | undefined {
  return store[SPAN];
}

/** Makes `span` the current one of `store`, a store of its own (new, or derived for this hop). */
export function setSpanOf(store: RequestStore, span: Span): void {
  store[SPAN] = span;
}

/**
 * A context for the same request as `store`, with its own fields: `component` for the code about to
 * run, `span` as its current span. It shares the request's cancellation, so aborting one aborts both.
 */
export function deriveStore(
  store: RequestStore,
  fields: { component?: string; span?: Span | undefined },
): RequestStore {
  cancellationOf(store);
  const derived = { ...store };
  if (fields.component !== undefined) derived[COMPONENT] = fields.component;
  if (fields.span !== undefined) derived[SPAN] = fields.span;
  return derived;
}

/** Runs `fn` in a new context for request `id`; whatever `fn` starts (timers, promises, streams) keeps it. */
export function runWithRequestId<T>(id: string, fn: () => T): T {
  return cls.runWith(createStore(id), fn);
}

/**
 * Whether a context entered inside a callback ends with that callback: true under Node 24's context
 * frames, false under the async_hooks implementation (Node 22 and older, or `--no-async-context-frame`),
 * where it would stay on the callback's async resource (a socket's parser, say) for its later callbacks.
 */
export const ENTERED_CONTEXT_ENDS_WITH_CALLBACK = ((): boolean => {
  const probe = new AsyncLocalStorage<boolean>();
  const resource = new AsyncResource('threadline.probe');
  resource.runInAsyncScope(() => probe.enterWith(true));
  const stayed = resource.runInAsyncScope(() => probe.getStore()) === true;
  probe.disable();
  return !stayed;
})();

/**
 * Makes `store` the current context for the rest of the current callback and everything it starts,
 * without restoring the previous one: Node does that when the callback returns, if
 * `ENTERED_CONTEXT_ENDS_WITH_CALLBACK` (docs/tracing.md, "Fastify").
 */
export function enterStore(store: RequestStore): void {
  cls.enterWith(store);
}

/** Runs `fn` in the given, already existing context. */
export function runInStore<T>(store: RequestStore, fn: () => T): T {
  return cls.runWith(store, fn);
}

/** Runs `fn(arg)` in the async context a `snapshotContext()` captured. */
export type ContextSnapshot = <A, R>(fn: (arg: A) => R, arg: A) => R;

/**
 * The async context as it is now, with `store` as the request's, captured once for code that enters it
 * again and again (each step of a stream): cheaper than `runInStore()` each time (docs/architecture.md,
 * "Streams"). Like any AsyncResource, it also restores the other AsyncLocalStorages as they were.
 */
export function snapshotContext(store: RequestStore): ContextSnapshot {
  // Taken where `store` is current already (an endpoint's stream made inside its call), as it is.
  const resource =
    cls.get() === store
      ? new AsyncResource('threadline.request-context')
      : cls.runWith(store, () => new AsyncResource('threadline.request-context'));
  return (fn, arg) => resource.runInAsyncScope(fn, undefined, arg);
}

/** The component field of a store, for the log mixin. */
export function componentOf(store: RequestStore): string | undefined {
  return store[COMPONENT];
}

/** The request id a store belongs to. */
export function requestIdOf(store: RequestStore): string {
  return store[CLS_ID];
}

/** Runs `fn` outside any request's context: what it writes and starts belongs to no request. */
export function runOutsideRequestContext<T>(fn: () => T): T {
  return cls.exit(fn);
}
