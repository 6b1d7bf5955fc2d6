import { CLS_ID, ClsServiceManager } from 'nestjs-cls';
import type { ClsStore } from 'nestjs-cls';

/**
 * The request context lives in nestjs-cls's process-wide AsyncLocalStorage, so an app that also uses
 * `ClsModule` sees the same context, and `ClsService#getId()` returns the request id.
 */
const cls = ClsServiceManager.getClsService();

/** What a request's context holds. Each request gets its own object; nothing is shared between requests. */
export interface RequestStore extends ClsStore {
  [CLS_ID]: string;
}

/** The id of the request being handled, or `undefined` outside any request context. @publicApi */
export function getCurrentRequestId(): string | undefined {
  return cls.getId();
}

/** The current context's store, to bind work that will run later (a stream, a callback) to it. */
export function getCurrentStore(): RequestStore | undefined {
  const store = cls.get() as RequestStore | undefined;
  return store?.[CLS_ID] === undefined ? undefined : store;
}

/** A new, empty context for request `id`. */
export function createStore(id: string): RequestStore {
  return { [CLS_ID]: id } as RequestStore;
}

/** Runs `fn` in a new context for request `id`; whatever `fn` starts (timers, promises, streams) keeps it. */
export function runWithRequestId<T>(id: string, fn: () => T): T {
  return cls.runWith(createStore(id), fn);
}

/** Runs `fn` in the given, already existing context. */
export function runInStore<T>(store: RequestStore, fn: () => T): T {
  return cls.runWith(store, fn);
}
