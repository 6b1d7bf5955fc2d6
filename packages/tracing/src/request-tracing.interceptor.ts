import { Injectable } from '@nestjs/common';
import type { CallHandler, ExecutionContext, NestInterceptor } from '@nestjs/common';
import type { Observable } from 'rxjs';
import { runObservableInStore } from './context-binding.js';
import { readHeader } from './header-carrier.js';
import { createStore } from './request-context.js';
import type { RequestStore } from './request-context.js';
import { RequestIdResolver } from './request-id.resolver.js';
import { TRACEPARENT_HEADER } from './request-tracing.constants.js';
import { parseTraceparent } from './traceparent.js';

/**
 * RPC ingress (docs/tracing.md, "RPC ingress"), for @nestjs/microservices message handlers: each runs in a fresh
 * context whose id comes from the message's headers, by the same policy as HTTP (names read
 * case-insensitively). The handler's result stream is subscribed to inside that context, and
 * unsubscribing from it unsubscribes from the handler's stream, so its producer stops. Registered
 * globally with `RequestTracingModule.forRoot({ rpc: true })`; HTTP requests pass straight through.
 * @publicApi
 */
@Injectable()
export class RequestTracingInterceptor implements NestInterceptor {
  constructor(private readonly resolver: RequestIdResolver) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() !== 'rpc') return next.handle();
    // next.handle() binds the handler to the async context it is called in: call it inside the store.
    return runObservableInStore(() => next.handle(), this.rpcStore(context));
  }

  private rpcStore(context: ExecutionContext): RequestStore {
    const rpcContext = context.switchToRpc().getContext<{ getHeaders?: () => unknown } | undefined>();
    const headers = typeof rpcContext?.getHeaders === 'function' ? rpcContext.getHeaders() : undefined;
    const traceparent = parseTraceparent(readHeader(headers, TRACEPARENT_HEADER));
    return createStore(this.resolver.resolve(readHeader(headers, this.resolver.header)), undefined, traceparent);
  }
}
