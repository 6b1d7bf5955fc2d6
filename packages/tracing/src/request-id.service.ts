import { Injectable } from '@nestjs/common';
import { getCurrentRequestId, runWithRequestId } from './request-context.js';
import { RequestIdResolver } from './request-id.resolver.js';

/**
 * The request id, injected: read it, make sure there is one, or open a context for work that no HTTP
 * or RPC entry point started (a timer, a CLI command, a queue consumer).
 * @publicApi
 */
@Injectable()
export class RequestIdService {
  constructor(private readonly resolver: RequestIdResolver) {}

  /** The current request's id; `undefined` outside any request context, never a stale one. */
  get id(): string | undefined {
    return getCurrentRequestId();
  }

  /**
   * An id to use now: `id` when given (kept when valid, replaced by a new one otherwise), else the
   * current request's, else a new one. Outside a context the new id is not stored anywhere: open one
   * with `run()` to keep it.
   */
  ensure(id?: string): string {
    return this.resolver.ensure(id);
  }

  /**
   * Runs `fn` in a new request context. `id` goes through the same policy as an incoming header (kept
   * when valid, replaced otherwise; `trustIncoming` does not apply to the app's own ids); without one an
   * id is generated.
   */
  run<T>(fn: () => T, id?: string): T {
    return runWithRequestId(this.resolver.accept(id), fn);
  }
}
