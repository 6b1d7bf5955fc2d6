import { Logger } from '@nestjs/common';
import { ServerNats } from '@nestjs/microservices';
import type { NatsContext } from '@nestjs/microservices';
import type { NatsConnection } from '@nats-io/transport-node';
import { Observable } from 'rxjs';
import { DeadlineExceededError } from '@threadline/tracing';
import {
  createStore,
  parseTraceparent,
  randomUuid,
  readHeader,
  RequestCancellation,
  RequestIdResolver,
  setDeadlineOf,
  TRACEPARENT_HEADER,
} from '@threadline/tracing/internal';
import { EndpointError } from '../../endpoint.error.js';
import { invokeEndpoint } from '../../endpoint-invoker.js';
import type { LocalInstance } from '../../local-instance.js';
import { RoundRobin } from '../../round-robin.js';
import { ByteBudget } from './byte-budget.js';
import type { CallerLiveness } from './caller-liveness.js';
import { itemFrames } from './item-parts.js';
import { connectWithRetry } from './nats-connect.js';
import { dataBytesPerMessage, maxPayloadOf } from './nats-message-size.js';
import { CALL_ID_HEADER, CALLER_HEADER, DEADLINE_HEADER, natsSubjects } from './nats-subjects.js';
import { downloadRequest, RequestDownloadError } from './request-download.js';
import { parseRequestParts, REQUEST_PARTS_HEADER } from './request-upload.js';
import type { CancelMessage, WireFrame } from './nats-subjects.js';

/** Why a call still running when the grace period of a shutdown ends was stopped. */
class ShuttingDownError extends Error {
  constructor() {
    super('The instance shut down before the call finished.');
  }
}

/** Why a call was stopped when the process that made it went silent or left. */
class CallerGoneError extends Error {
  constructor(callerId: string) {
    super(`The caller (process ${callerId}) is gone.`);
  }
}

/**
 * The serving side of the NATS transport, on Nest's NATS server: each endpoint of each local instance
 * is a message handler, on the component's queue-group subject and on the instance's own subject. A
 * call runs in a fresh context whose id comes from the message headers (the same policy as HTTP), with
 * an AbortSignal that a cancel message for its call id aborts.
 */
export class NatsEndpointServer {
  private readonly logger = new Logger('Runtime');
  private readonly server: ServerNats;
  private readonly active = new Map<string, AbortController>();
  private readonly turns = new RoundRobin();
  /** The component subjects, shared by a queue group; instance subjects are not among them. */
  private readonly sharedSubjects = new Set<string>();
  /** Bytes of requests sent in parts held at once, across calls. */
  private readonly largeRequests: ByteBudget;

  constructor(
    private readonly url: string,
    private readonly resolver: RequestIdResolver,
    private readonly maxMessageBytes: number,
    private readonly callers: CallerLiveness,
  ) {
    this.largeRequests = new ByteBudget(maxMessageBytes * 4);
    this.server = new ServerNats({
      servers: url,
      name: `threadline-server-${process.pid}`,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
    });
  }

  async serve(instances: readonly LocalInstance[]): Promise<void> {
    const byAddress = new Map<string, LocalInstance[]>();
    for (const local of instances) {
      const queue = natsSubjects.queueGroup(local.identity);
      byAddress.set(queue, [...(byAddress.get(queue) ?? []), local]);
    }
    for (const [queue, locals] of byAddress) {
      const { identity, endpoints } = locals[0]!;
      for (const endpoint of endpoints.keys()) {
        const shared = async (data: unknown, ctx: NatsContext) =>
          this.handle(this.turns.pick(locals, queue), endpoint, data, ctx);
        this.sharedSubjects.add(natsSubjects.endpoint(identity, endpoint));
        this.server.addHandler(natsSubjects.endpoint(identity, endpoint), shared, false, { queue });
        for (const local of locals) {
          const own = async (data: unknown, ctx: NatsContext) => this.handle(local, endpoint, data, ctx);
          this.server.addHandler(natsSubjects.instanceEndpoint(identity, local.instanceId, endpoint), own);
        }
      }
    }
    await connectWithRetry(
      this.url,
      'serving',
      () =>
        new Promise<void>((resolve, reject) => {
          // listen() reports through its callback and never rejects.
          void this.server.listen((error?: unknown) => {
            if (!error) resolve();
            else reject(error instanceof Error ? error : new Error('Could not listen on NATS.', { cause: error }));
          });
        }),
    );
    // Replies sent while the connection is down are lost: the calls in flight then stop. The status is
    // read as a string: Nest's NatsStatus is an ambient const enum, which isolatedModules cannot refer to.
    this.server.status.subscribe((status: string) => {
      if (status !== 'disconnected') return;
      for (const controller of this.active.values())
        controller.abort(new Error('The connection to the message bus was lost.'));
    });
    for (const queue of byAddress.keys()) {
      const { identity } = byAddress.get(queue)![0]!;
      this.server
        .unwrap<{ subscribe: (subject: string, options: object) => unknown }>()
        .subscribe(natsSubjects.cancel(identity), {
          callback: (_error: unknown, message: { json: () => CancelMessage }) => this.cancel(message.json().callId),
        });
    }
  }

  /**
   * Stops taking new calls: the instance leaves its queue groups, so other instances get them. Calls
   * already addressed to this instance (a router chose it just before it heard of the drain) are still
   * served. Lets the calls in flight finish for up to `graceMs`, stops the rest with an error their
   * callers see, and closes the connection.
   */
  async drain(graceMs: number): Promise<void> {
    // Nest's own graceful shutdown (`gracefulShutdown`) always waits the whole grace period, even with
    // nothing in flight, and leaves every subject at once; unsubscribing ourselves avoids both.
    const { subscriptions } = this.server as unknown as {
      subscriptions: Array<{ unsubscribe(): void; getSubject(): string }>;
    };
    for (const subscription of subscriptions)
      if (this.sharedSubjects.has(subscription.getSubject())) subscription.unsubscribe();
    const deadline = Date.now() + graceMs;
    while (this.active.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    if (this.active.size > 0) {
      this.logger.warn(`stopping ${this.active.size} call(s) still running at the end of the shutdown grace period`);
      for (const controller of this.active.values()) controller.abort(new ShuttingDownError());
      const flushBy = Date.now() + 1000;
      while (this.active.size > 0 && Date.now() < flushBy) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await this.server.close();
  }

  private cancel(callId: string): void {
    this.active.get(callId)?.abort(new Error('The caller cancelled the call.'));
  }

  private handle(local: LocalInstance, endpoint: string, data: unknown, ctx: NatsContext): Observable<WireFrame> {
    // Nest types the headers as `any`: readHeader() takes any carrier and reads only what it recognises.
    const headers: unknown = ctx.getHeaders();
    const requestId = this.resolver.resolve(readHeader(headers, this.resolver.header));
    const callHeader = readHeader(headers, CALL_ID_HEADER);
    const callId = typeof callHeader === 'string' ? callHeader : randomUuid();
    const controller = new AbortController();
    this.active.set(callId, controller);
    const traceparent = parseTraceparent(readHeader(headers, TRACEPARENT_HEADER));
    const store = createStore(requestId, RequestCancellation.following(controller.signal), traceparent);
    const deadline = Number(readHeader(headers, DEADLINE_HEADER) ?? Number.NaN);
    if (Number.isFinite(deadline)) setDeadlineOf(store, deadline);
    const caller = readHeader(headers, CALLER_HEADER);
    const where = { requestId, component: local.identity.name, endpoint };
    const partsHeader = readHeader(headers, REQUEST_PARTS_HEADER);
    const parts = parseRequestParts(typeof partsHeader === 'string' ? partsHeader : undefined);
    const connection = this.server.unwrap<NatsConnection>();
    return new Observable<WireFrame>((subscriber) => {
      subscriber.next({ kind: 'start', instanceId: local.instanceId });
      let items: AsyncIterator<unknown> | undefined;
      // The call stops when its deadline passes or its caller goes; both are the call's cancellation.
      const untilDeadline = deadline - Date.now();
      // Beyond what a timer can wait (weeks), a deadline is as good as none.
      const deadlineTimer =
        untilDeadline < 2 ** 31
          ? setTimeout(() => controller.abort(new DeadlineExceededError()), Math.max(0, untilDeadline))
          : undefined;
      const stopWatching =
        typeof caller === 'string'
          ? this.callers.watch(caller, () => controller.abort(new CallerGoneError(caller)))
          : undefined;
      void (async () => {
        try {
          const limits = {
            maxMessageBytes: this.maxMessageBytes,
            budget: this.largeRequests,
            signal: controller.signal,
          };
          const request = parts === undefined ? data : await downloadRequest(connection, parts, limits);
          if (subscriber.closed) return;
          items = invokeEndpoint(local, endpoint, request, store, callId)[Symbol.asyncIterator]();
          for (let next = await items.next(); !next.done; next = await items.next()) {
            for (const frame of itemFrames(next.value, dataBytesPerMessage(maxPayloadOf(connection))))
              subscriber.next(frame);
          }
          if (controller.signal.reason instanceof ShuttingDownError) throw controller.signal.reason;
          subscriber.complete();
        } catch (error) {
          const failure =
            error instanceof ShuttingDownError
              ? new EndpointError({ ...where, message: error.message, status: 503, code: 'instance_shutting_down' })
              : error instanceof RequestDownloadError
                ? new EndpointError({ ...where, message: error.message, status: error.status, code: error.code })
                : EndpointError.from(error, where);
          subscriber.error(failure.toJSON());
        } finally {
          clearTimeout(deadlineTimer);
          stopWatching?.();
          this.active.delete(callId);
        }
      })();
      return () => void items?.return?.(undefined);
    });
  }
}
