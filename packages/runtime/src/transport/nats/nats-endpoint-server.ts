import { Logger } from '@nestjs/common';
import { ServerNats } from '@nestjs/microservices';
import type { Msg, MsgHdrs, NatsConnection, Subscription } from '@nats-io/transport-node';
import { DeadlineExceededError } from '@threadline/tracing';
import {
  cancelStore,
  createStore,
  parseTraceparent,
  parseTracestate,
  RequestCancellation,
  RequestIdResolver,
  runInStore,
  setDeadlineOf,
  TRACEPARENT_HEADER,
  TRACESTATE_HEADER,
} from '@threadline/tracing/internal';
import type { RequestStore } from '@threadline/tracing/internal';
import { EndpointError } from '../../endpoint.error.js';
import type { EndpointErrorData } from '../../endpoint.error.js';
import { invokeEndpoint } from '../../endpoint-invoker.js';
import type { LocalInstance } from '../../local-instance.js';
import { RoundRobin } from '../../round-robin.js';
import { ByteBudget } from './byte-budget.js';
import { constantFrame, ReplySender } from './call-packets.js';
import type { RequestPacket } from './call-packets.js';
import type { CallerLiveness } from './caller-liveness.js';
import { frameBytes, itemFrames } from './item-parts.js';
import { connectWithRetry } from './nats-connect.js';
import { natsServerOptions } from './nats-server-options.js';
import { dataBytesPerMessage, maxPayloadOf } from './nats-message-size.js';
import { natsSubjects } from './nats-subjects.js';
import { downloadRequest, RequestDownloadError } from './request-download.js';
import { parseRequestParts } from './request-upload.js';
import type { CancelMessage, WireFrame } from './nats-subjects.js';
import { CreditWindow, parseCredit, StuckReaderError } from './stream-credit.js';
import type { CreditMessage } from './stream-credit.js';

/**
 * The headers of a call by name, matched case-insensitively as `readHeader` does (a name under two
 * spellings reads as an array), but indexed once for the several a call reads.
 */
function headerReader(headers: MsgHdrs | undefined): (name: string) => string | string[] | undefined {
  const byName = new Map<string, string | string[]>();
  if (headers !== undefined) {
    for (const key of headers.keys()) {
      const name = key.toLowerCase();
      const value = headers.get(key);
      const earlier = byName.get(name);
      byName.set(name, earlier === undefined ? value : [...(Array.isArray(earlier) ? earlier : [earlier]), value]);
    }
  }
  return (name) => byName.get(name.toLowerCase());
}

/** A request packet as it arrived: its call id read, the rest not yet checked. */
type ArrivedPacket = Partial<RequestPacket> & { id: string };

/**
 * Runs a call that arrived on a subject: its packet and its message in, frames out to `replies`, which
 * hears exactly one of `fail` or `complete`, last.
 */
type Route = (packet: ArrivedPacket, message: Msg, replies: CallReplies) => void;

/** Where a call's frames go: its `ReplySender`, called directly rather than through an Observable per call. */
type CallReplies = Pick<ReplySender, 'begin' | 'frame' | 'fail' | 'complete' | 'maxBytes'>;

/** Why a call still running when the grace period of a shutdown ends was stopped. */
class ShuttingDownError extends Error {
  constructor() {
    super('The instance shut down before the call finished.');
  }
}

/**
 * Why a call was stopped when the process that made it went silent (for `silentMs`) or left. Its message
 * names that process, for this side's log; its caller is told in its own terms (`failureOf`).
 */
class CallerGoneError extends Error {
  constructor(
    readonly callerId: string,
    readonly silentMs: number | undefined,
  ) {
    super(
      silentMs === undefined
        ? `its caller (process ${callerId}) left`
        : `its caller (process ${callerId}) was silent for ${seconds(silentMs)} s`,
    );
  }
}

/** `ms` in seconds, to the tenth below: what a silence is said to have lasted more than. */
function seconds(ms: number): number {
  return Math.floor(ms / 100) / 10;
}

/** A call being served. */
interface ActiveCall {
  /** Its context, which holds its cancellation: stopped with `cancelStore`, its listeners run in it. */
  store: RequestStore;
  /** The process that made it, when it said. */
  caller: string | undefined;
  /** Its credit window, when its caller paces it. */
  window: CreditWindow | undefined;
}

/** How this process paces the streams its callers offer to acknowledge. */
export interface ServerPacing {
  /** Where their acknowledgements come: this process's own subject. */
  subject: string;
  /** How long a call waits for credit, hearing nothing, before it stops. */
  stallMs: number;
}

/**
 * The serving side of the NATS transport, on the connection Nest's NATS server opens: each endpoint of
 * each local instance is a subscription, on the component's queue-group subject and on the instance's
 * own subject, answered in Nest's framing (`call-packets.ts`); a paced call waits for credit. A
 * call runs in a fresh context whose id comes from its packet (or its headers; the same policy as HTTP), with
 * an AbortSignal that a cancel message for its call id aborts.
 */
export class NatsEndpointServer {
  private readonly logger = new Logger('Runtime');
  private readonly server: ServerNats;
  /** The calls in flight, by call id: their cancellation (its signal made only if asked for) and calling process. */
  private active = new Map<string, ActiveCall>();
  /** Each local instance's start frames, their JSON made once. */
  private readonly startFrames = new Map<string, { unpaced: WireFrame; paced: WireFrame }>();
  private readonly turns = new RoundRobin();
  /** What each subject serves, and the subscriptions to the component subjects, shared by a queue group. */
  private readonly routes: Array<{ subject: string; queue?: string; run: Route }> = [];
  private readonly shared: Subscription[] = [];
  /** Bytes of requests sent in parts held at once, across calls. */
  private readonly largeRequests: ByteBudget;

  constructor(
    private readonly url: string,
    private readonly resolver: RequestIdResolver,
    private readonly maxMessageBytes: number,
    private readonly callers: CallerLiveness,
    private readonly pacing: ServerPacing,
  ) {
    this.largeRequests = new ByteBudget(maxMessageBytes * 4);
    callers.onGone((processId, silentMs) => {
      for (const call of this.active.values())
        if (call.caller === processId) cancelStore(call.store, new CallerGoneError(processId, silentMs));
    });
    this.server = new ServerNats({
      ...natsServerOptions(url),
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
        this.routes.push({
          subject: natsSubjects.endpoint(identity, endpoint),
          queue,
          run: (packet, message, replies) =>
            this.handle(this.turns.pick(locals, queue), endpoint, packet, message, replies),
        });
        for (const local of locals) {
          this.routes.push({
            subject: natsSubjects.instanceEndpoint(identity, local.instanceId, endpoint),
            run: (packet, message, replies) => this.handle(local, endpoint, packet, message, replies),
          });
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
    const connection = this.server.unwrap<NatsConnection>();
    for (const { subject, queue, run } of this.routes) {
      const subscription = connection.subscribe(subject, {
        ...(queue !== undefined && { queue }),
        callback: (error, message) => {
          if (error === null) this.receive(message, run);
        },
      });
      if (queue !== undefined) this.shared.push(subscription);
    }
    // Replies sent while the connection is down are lost: the calls in flight then stop. The status is
    // read as a string: Nest's NatsStatus is an ambient const enum, which isolatedModules cannot refer to.
    this.server.status.subscribe((status: string) => {
      if (status !== 'disconnected') return;
      for (const call of this.active.values())
        cancelStore(call.store, new Error('The connection to the message bus was lost.'));
    });
    for (const queue of byAddress.keys()) {
      const { identity } = byAddress.get(queue)![0]!;
      this.server
        .unwrap<{ subscribe: (subject: string, options: object) => unknown }>()
        .subscribe(natsSubjects.cancel(identity), {
          callback: (_error: unknown, message: { json: () => CancelMessage }) => this.cancel(message.json().callId),
        });
    }
    this.server.unwrap<NatsConnection>().subscribe(this.pacing.subject, {
      callback: (error, message) => {
        if (error !== null) return;
        const credit = message.json<CreditMessage>();
        this.active.get(credit.callId)?.window?.acknowledge(credit.read);
      },
    });
  }

  /**
   * Stops taking new calls: the instance leaves its queue groups, so other instances get them. Calls
   * already addressed to this instance (a router chose it just before it heard of the drain) are still
   * served. Lets the calls in flight finish for up to `graceMs`, stops the rest with an error their
   * callers see, and closes the connection.
   */
  async drain(graceMs: number): Promise<void> {
    for (const subscription of this.shared) subscription.unsubscribe();
    const deadline = Date.now() + graceMs;
    while (this.active.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    if (this.active.size > 0) {
      this.logger.warn(`stopping ${this.active.size} call(s) still running at the end of the shutdown grace period`);
      for (const call of this.active.values()) cancelStore(call.store, new ShuttingDownError());
      const flushBy = Date.now() + 1000;
      while (this.active.size > 0 && Date.now() < flushBy) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    // The instance's leaving is announced next, on another connection, and a caller that hears of it
    // fails the calls it still waits for: a round trip first makes sure nats-server has passed on every
    // reply sent on this one (closing the connection does not wait for that).
    await Promise.resolve()
      .then(() => this.server.unwrap<NatsConnection>().flush())
      .catch(() => undefined);
    await this.server.close();
  }

  /**
   * The first frames a call `instanceId` serves may send: who serves it, and (`paced`) where its
   * acknowledgements go.
   */
  private startFramesOf(instanceId: string): { unpaced: WireFrame; paced: WireFrame } {
    let frames = this.startFrames.get(instanceId);
    if (frames === undefined) {
      frames = {
        unpaced: constantFrame({ kind: 'start', instanceId }),
        paced: constantFrame({ kind: 'start', instanceId, credit: this.pacing.subject }),
      };
      this.startFrames.set(instanceId, frames);
    }
    return frames;
  }

  /**
   * Forgets the call `callId`. The last call in flight leaves a new map rather than an emptied one: V8
   * shrinks a map that empties, allocating its table anew beside the map, in the old generation once the
   * map has lived long, which costs every call when calls come one at a time (bench/README.md, "Tables
   * that empty at every call").
   */
  private ended(callId: string): void {
    if (this.active.size === 1 && this.active.has(callId)) this.active = new Map();
    else this.active.delete(callId);
  }

  private cancel(callId: string): void {
    const call = this.active.get(callId);
    if (call !== undefined) cancelStore(call.store, new Error('The caller cancelled the call.'));
  }

  /** A call as it arrives: its packet read, its frames sent back as they come (`call-packets.ts`). */
  private receive(message: Msg, run: Route): void {
    let packet: Partial<RequestPacket>;
    try {
      packet = message.json<Partial<RequestPacket>>();
    } catch (error) {
      this.logger.warn(`a call on ${message.subject} that is not JSON was dropped: ${String(error)}`);
      return;
    }
    // No id or nowhere to reply: nobody waits for an answer.
    if (typeof packet.id !== 'string' || !message.reply) return;
    const maxBytes = dataBytesPerMessage(maxPayloadOf(this.server.unwrap<NatsConnection>()));
    run(packet as ArrivedPacket, message, new ReplySender(message, packet.id, packet.batch === true, maxBytes));
  }

  private handle(
    local: LocalInstance,
    endpoint: string,
    packet: ArrivedPacket,
    message: Msg,
    replies: CallReplies,
  ): void {
    // Threadline's callers send the id and the trace context in the packet; other clients, in headers.
    const header = packet.requestId === undefined ? headerReader(message.headers) : undefined;
    const requestId = this.resolver.resolve(header === undefined ? packet.requestId : header(this.resolver.header));
    // The packet's id is the call's: its caller cancels it by that id.
    const callId = packet.id;
    // The call's own cancellation: a cancel message, its deadline, its caller gone or a shutdown abort it.
    const cancellation = new RequestCancellation();
    const caller = typeof packet.caller === 'string' ? packet.caller : undefined;
    if (caller !== undefined) this.callers.expect(caller);
    const credit = parseCredit(packet.credit);
    const window = credit === undefined ? undefined : new CreditWindow(credit, this.pacing.stallMs);
    const traceparent = parseTraceparent(header === undefined ? packet.traceparent : header(TRACEPARENT_HEADER));
    const tracestate =
      traceparent === undefined
        ? undefined
        : parseTracestate(header === undefined ? packet.tracestate : header(TRACESTATE_HEADER));
    const store = createStore(requestId, cancellation, traceparent, tracestate);
    const call: ActiveCall = { store, caller, window };
    this.active.set(callId, call);
    const deadline = typeof packet.deadline === 'number' ? packet.deadline : Number.NaN;
    if (Number.isFinite(deadline)) setDeadlineOf(store, deadline);
    const where = { requestId, component: local.identity.name, endpoint };
    const parts = parseRequestParts(typeof packet.parts === 'string' ? packet.parts : undefined);
    const data = packet.data;
    const connection = this.server.unwrap<NatsConnection>();
    const start = this.startFramesOf(local.instanceId);
    replies.begin(window === undefined ? start.unpaced : start.paced, start.unpaced);
    let items: AsyncIterator<unknown> | undefined;
    // The call stops when its deadline passes or its caller goes (see the constructor); both abort its cancellation.
    const untilDeadline = deadline - Date.now();
    // Beyond what a timer can wait (weeks), a deadline is as good as none.
    const deadlineTimer =
      untilDeadline < 2 ** 31
        ? setTimeout(() => cancelStore(call.store, new DeadlineExceededError()), Math.max(0, untilDeadline))
        : undefined;
    void (async () => {
      try {
        const request =
          parts === undefined
            ? data
            : await downloadRequest(connection, parts, {
                maxMessageBytes: this.maxMessageBytes,
                budget: this.largeRequests,
                signal: cancellation.signal,
              });
        items = invokeEndpoint(local, endpoint, request, store, callId)[Symbol.asyncIterator]();
        for (let next = await items.next(); !next.done; next = await items.next()) {
          for (const frame of itemFrames(next.value, replies.maxBytes)) {
            if (window !== undefined) {
              // Paced: wait for the caller to read enough of what was sent before sending more.
              if (!window.hasRoom()) await window.room(cancellation.signal);
              window.sent(frameBytes(frame));
            }
            replies.frame(frame);
          }
        }
        // An endpoint that returned quietly once stopped for this side's reasons did not finish: its
        // caller (back from a stall, say) must not take what it sent for the whole answer.
        const stoppedFor: unknown = cancellation.aborted ? cancellation.signal.reason : undefined;
        if (stoppedFor instanceof ShuttingDownError || stoppedFor instanceof CallerGoneError) throw stoppedFor;
        replies.complete();
      } catch (error) {
        if (error instanceof StuckReaderError) {
          runInStore(store, () =>
            this.logger.warn({
              msg: `stopping ${where.component}.${endpoint}: its caller read nothing of the stream for ${error.stallMs} ms`,
              callId,
              unread: window?.outstanding,
            }),
          );
          cancelStore(call.store, error);
        }
        const stoppedFor: unknown = cancellation.aborted ? cancellation.signal.reason : undefined;
        // The process by its id, which only operators can look up: its caller is told in its own terms.
        if (stoppedFor instanceof CallerGoneError)
          runInStore(store, () =>
            this.logger.warn({ msg: `stopping ${where.component}.${endpoint}: ${stoppedFor.message}`, callId }),
          );
        const failure = failureOf(error, stoppedFor, where);
        replies.fail(failure.toJSON());
        // The endpoint may be suspended at an item (a stalled reader, an item too large): let it finish.
        void items?.return?.(undefined);
      } finally {
        clearTimeout(deadlineTimer);
        this.ended(callId);
        window?.close();
      }
    })();
  }
}

/** What the caller is told of a call that failed with `error`, stopped on this side for `stoppedFor` if it was. */
function failureOf(
  error: unknown,
  stoppedFor: unknown,
  where: Pick<EndpointErrorData, 'requestId' | 'component' | 'endpoint'>,
): EndpointError {
  // A caller that was only silent (a long pause of its event loop) reads this once it resumes: its call
  // was stopped on this side, a failure it may retry, not a cancellation of its own.
  if (stoppedFor instanceof CallerGoneError)
    return new EndpointError({ ...where, message: callerGoneMessage(stoppedFor), status: 503, code: 'caller_silent' });
  if (error instanceof StuckReaderError)
    return new EndpointError({ ...where, message: error.message, status: 503, code: 'reader_stalled' });
  // Stopped by this instance's shutdown: whatever the endpoint then threw (a Processor, the 499 of its own
  // call to a Worker that the stop cancelled), its caller is told the instance shut down, to retry.
  const shutDown = error instanceof ShuttingDownError ? error : stoppedFor;
  if (shutDown instanceof ShuttingDownError)
    return new EndpointError({ ...where, message: shutDown.message, status: 503, code: 'instance_shutting_down' });
  if (error instanceof RequestDownloadError)
    return new EndpointError({ ...where, message: error.message, status: error.status, code: error.code });
  return EndpointError.from(error, where);
}

/**
 * What the caller of a call stopped for its silence reads once back, and may pass on to its own client
 * as it is: in that client's terms, since the process that paused is the service the client called (the
 * process id is in this side's log line).
 */
function callerGoneMessage({ silentMs }: CallerGoneError): string {
  return silentMs === undefined
    ? 'The request was stopped: this service stopped while serving it.'
    : `The request was stopped: this service paused, or lost contact with its workers, for more than ${seconds(silentMs)} s. It may be retried.`;
}
