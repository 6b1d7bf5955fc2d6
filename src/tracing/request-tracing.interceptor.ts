import { Injectable } from '@nestjs/common';
import type { CallHandler, ExecutionContext, NestInterceptor } from '@nestjs/common';
import type { Observable } from 'rxjs';
import { runObservableInStore } from './context-binding.js';
import { readHeader } from './header-carrier.js';
import { createStore, deriveStore, getCurrentStore } from './request-context.js';
import type { RequestStore } from './request-context.js';
import { COMPONENT_NAME_METADATA, TRACEPARENT_HEADER } from './request-tracing.constants.js';
import { parseTraceparent } from './traceparent.js';
import { RequestIdResolver } from './request-id.resolver.js';

/**
 * Global interceptor. RPC ingress (DESIGN.md, step 2): a message handler runs in a fresh context whose
 * id comes from the message's headers, by the same policy as HTTP. For every entry point, the handler's
 * result stream is subscribed to inside the request's context, and unsubscribing from it (a client gone)
 * unsubscribes from the handler's stream, so its producer stops.
 */
@Injectable()
export class RequestTracingInterceptor implements NestInterceptor {
  private readonly componentByClass = new WeakMap<object, string | null>();

  constructor(private readonly resolver: RequestIdResolver) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const store = this.withComponent(context, context.getType() === 'rpc' ? this.rpcStore(context) : getCurrentStore());
    // next.handle() binds the handler to the async context it is called in: call it inside the store.
    return store === undefined ? next.handle() : runObservableInStore(() => next.handle(), store);
  }

  /** The store with the `component` its controller class declares, if it declares one. */
  private withComponent(context: ExecutionContext, store: RequestStore | undefined): RequestStore | undefined {
    const controller = context.getClass() as object | null | undefined;
    if (store === undefined || typeof controller !== 'function') return store;
    let component = this.componentByClass.get(controller);
    if (component === undefined) {
      component = (Reflect.getMetadata(COMPONENT_NAME_METADATA, controller) as string | undefined) ?? null;
      this.componentByClass.set(controller, component);
    }
    return component === null ? store : deriveStore(store, { component });
  }

  private rpcStore(context: ExecutionContext) {
    const rpcContext = context.switchToRpc().getContext<{ getHeaders?: () => unknown } | undefined>();
    const headers = typeof rpcContext?.getHeaders === 'function' ? rpcContext.getHeaders() : undefined;
    const traceparent = parseTraceparent(readHeader(headers, TRACEPARENT_HEADER));
    return createStore(this.resolver.resolve(readHeader(headers, this.resolver.header)), undefined, traceparent);
  }
}
