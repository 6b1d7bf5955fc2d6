import { Injectable } from '@nestjs/common';
import type { CallHandler, ExecutionContext, NestInterceptor } from '@nestjs/common';
import { finalize, tap } from 'rxjs';
import type { Observable } from 'rxjs';
import { runObservableInStore } from './context-binding.js';
import { readHeader } from './header-carrier.js';
import { createStore, setSpanOf } from './request-context.js';
import type { RequestStore } from './request-context.js';
import { RequestIdResolver } from './request-id.resolver.js';
import { TRACEPARENT_HEADER, TRACESTATE_HEADER } from './request-tracing.constants.js';
import { startSpan } from './spans/span-context.js';
import { parseTraceparent, parseTracestate } from './traceparent.js';

/** Where @nestjs/microservices keeps a handler's patterns (its PATTERN_METADATA), read without importing it. */
const PATTERN_METADATA = 'microservices:pattern';

/** The `rpc.system` of the transports whose context classes @nestjs/microservices names after them. */
const SYSTEMS: Readonly<Record<string, string>> = {
  NatsContext: 'nats',
  KafkaContext: 'kafka',
  RedisContext: 'redis',
  MqttContext: 'mqtt',
  RmqContext: 'rabbitmq',
  TcpContext: 'tcp',
};

/**
 * RPC ingress for @nestjs/microservices message handlers: each runs, and its result stream is subscribed
 * to, in a fresh context whose id comes from the message's headers (or metadata) by the HTTP policy (docs/tracing.md,
 * "RPC ingress"). When spans are recorded, each message handled gets a `server` span, a child of the
 * message's `traceparent`, ended when the handler's stream completes, fails or is unsubscribed from.
 * Registered by `RequestTracingModule.forRoot({ rpc: true })`; HTTP passes straight through.
 * @publicApi
 */
@Injectable()
export class RpcIngressInterceptor implements NestInterceptor {
  constructor(private readonly resolver: RequestIdResolver) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() !== 'rpc') return next.handle();
    const rpcContext = context.switchToRpc().getContext<object | undefined>();
    const store = this.rpcStore(rpcContext);
    const span = startSpan(patternOf(context), 'server', { 'rpc.system': systemOf(rpcContext) }, store);
    // next.handle() binds the handler to the async context it is called in: call it inside the store.
    if (span === undefined) return runObservableInStore(() => next.handle(), store);
    setSpanOf(store, span);
    return runObservableInStore(() => next.handle(), store).pipe(
      tap({ error: (error: unknown) => span.recordFailure(error) }),
      finalize(() => span.end()),
    );
  }

  private rpcStore(rpcContext: RpcContextReaders | undefined): RequestStore {
    const headers = headersOf(rpcContext);
    const traceparent = parseTraceparent(readHeader(headers, TRACEPARENT_HEADER));
    const tracestate = traceparent === undefined ? undefined : parseTracestate(readHeader(headers, TRACESTATE_HEADER));
    const id = this.resolver.resolve(readHeader(headers, this.resolver.header));
    return createStore(id, undefined, traceparent, tracestate);
  }
}

/** What the transports' contexts may offer to read a message's headers with. */
interface RpcContextReaders {
  getHeaders?: () => unknown;
  getMetadata?: () => unknown;
}

/**
 * The message's headers: NATS, Kafka, MQTT and RabbitMQ carry headers; TCP and Redis carry the packet's
 * `metadata` a client's dispatch hook attached (`addTracingMetadata`).
 */
function headersOf(rpcContext: RpcContextReaders | undefined): unknown {
  if (typeof rpcContext?.getHeaders === 'function') return rpcContext.getHeaders();
  if (typeof rpcContext?.getMetadata === 'function') return rpcContext.getMetadata();
  return undefined;
}

/** The span's name: the handler's pattern, as written (an object pattern as JSON). */
function patternOf(context: ExecutionContext): string {
  const patterns: unknown = Reflect.getMetadata(PATTERN_METADATA, context.getHandler());
  const pattern: unknown = Array.isArray(patterns) ? patterns[0] : patterns;
  if (typeof pattern === 'string') return pattern;
  if (pattern !== undefined) return JSON.stringify(pattern);
  return `${context.getClass().name}.${context.getHandler().name}`;
}

/** The transport, when its context says which; `nestjs` otherwise. */
function systemOf(rpcContext: object | undefined): string {
  return SYSTEMS[rpcContext?.constructor?.name ?? ''] ?? 'nestjs';
}
