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
 * RPC ingress for @nestjs/microservices message handlers: each runs, and its result stream is subscribed
 * to, in a fresh context whose id comes from the message's headers by the HTTP policy (docs/tracing.md,
 * "RPC ingress"). Registered by `RequestTracingModule.forRoot({ rpc: true })`; HTTP passes straight through.
 * @publicApi
 */
@Injectable()
export class RpcIngressInterceptor implements NestInterceptor {
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
