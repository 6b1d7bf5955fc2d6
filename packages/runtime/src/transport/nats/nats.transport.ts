import { Logger } from '@nestjs/common';
import { ClientNats } from '@nestjs/microservices';
import { createInbox } from '@nats-io/transport-node';
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import { hostname } from 'node:os';
import {
  deadlineOf,
  outboundTraceparentOf,
  randomUuid,
  tracestateOf,
  withoutCredentials,
} from '@threadline/tracing/internal';
import type { RequestIdResolver } from '@threadline/tracing/internal';
import type { ComponentIdentity } from '../../component.decorator.js';
import { EndpointError } from '../../endpoint.error.js';
import type { LocalInstance } from '../../local-instance.js';
import { ComponentTransport } from '../component-transport.js';
import type { BusStatus, OutgoingCall, QueryHandler } from '../component-transport.js';
import { componentAddress } from '../in-process.transport.js';
import { RoundRobin } from '../../round-robin.js';
import { ByteBudget } from './byte-budget.js';
import { requestPacket } from './call-packets.js';
import { ReplyInbox } from './reply-inbox.js';
import { CallerLiveness } from './caller-liveness.js';
import { CallsInFlight } from './calls-in-flight.js';
import { InstanceRegistry } from './instance-registry.js';
import { ItemAssembler } from './item-parts.js';
import { LivenessClock } from './liveness-clock.js';
import { NatsCall } from './nats-call.js';
import type { NatsCallOptions } from './nats-call.js';
import { connectWithRetry } from './nats-connect.js';
import { natsServerOptions } from './nats-server-options.js';
import { NatsEndpointServer } from './nats-endpoint-server.js';
import { dataBytesPerMessage, DEFAULT_MAX_MESSAGE_BYTES, maxPayloadOf, tooLargeMessage } from './nats-message-size.js';
import { natsSubjects } from './nats-subjects.js';
import type { Heartbeat, ProcessBeat, QueryMessage, QueryReply } from './nats-subjects.js';
import { offerRequest } from './request-upload.js';
import type { RequestUpload } from './request-upload.js';
import { DEFAULT_CREDIT, DEFAULT_STALL_MS, formatCredit } from './stream-credit.js';
import type { CreditLimits, CreditMessage } from './stream-credit.js';
import { utf8Payload } from './utf8-payload.js';

/** Settings of the NATS transport. */
export interface NatsTransportOptions {
  url: string;
  /** How long a stopping instance lets its calls in flight finish. */
  shutdownGraceMs: number;
  /** How often each instance announces itself; it counts as gone after three silent intervals. */
  heartbeatMs?: number;
  /** How long a call waits for an instance to take it. */
  startTimeoutMs?: number;
  /**
   * The largest request or stream item a call may carry, serialised. One larger than the server's
   * `max_payload` travels in parts; one larger than this fails with `message_too_large`.
   */
  maxMessageBytes?: number;
  /**
   * Pacing of streamed calls by acknowledgements: as a caller, how far a callee may run ahead of what
   * this process has read; as a callee, how long a call waits for credit, hearing nothing, before it
   * stops. `false`: this process offers no acknowledgements as a caller (it still paces the callers
   * that offer them).
   */
  pacing?: false | (Partial<CreditLimits> & { stallMs?: number });
}

/** A subscriber to an event topic, and its subscription once the connection is there. */
interface EventListener {
  topic: string;
  handler: (payload: unknown) => void;
  subscription: Subscription | undefined;
  stopped: boolean;
}

/** A call's request as sent, once for every instance it is sent to. */
interface SentRequest {
  where: Pick<OutgoingCall, 'requestId'> & { component: string; endpoint: string };
  json: string;
  upload: RequestUpload | undefined;
}

/** Subjects for discovery and events, shared by every namespace of the service. */
const TRANSPORT_NAMESPACE = 'threadline';

/**
 * Calls between processes over NATS, on connections @nestjs/microservices' NATS client and server open,
 * in their framing but sent and read here (`call-packets.ts`). The request id travels in the call's
 * packet, each call has its own id by which a cancel message stops it, instances announce themselves by
 * heartbeats (so routers see who is alive and calls to a dead instance fail instead of hanging), and
 * events are broadcast subjects.
 */
export class NatsTransport extends ComponentTransport {
  private readonly logger = new Logger('Runtime');
  private readonly client: ClientNats;
  private readonly registry: InstanceRegistry;
  private readonly server: NatsEndpointServer;
  private readonly heartbeatMs: number;
  private local: readonly LocalInstance[] = [];
  private heartbeat: NodeJS.Timeout | undefined;
  private state: 'up' | 'draining' = 'up';
  private connection: NatsConnection | undefined;
  private connected = false;
  private readonly maxMessageBytes: number;
  /** Bytes of stream items arriving in parts held at once, across this process's calls. */
  private readonly largeItems: ByteBudget;
  /** This process, as process-wide queries name their asker and their repliers. */
  private readonly processId = randomUuid();
  private readonly querySubscriptions = new Map<string, Subscription>();
  /** What peers' silence is measured on: stands still while this process, or the bus, is stalled. */
  private readonly livenessClock: LivenessClock;
  /** The processes whose calls this one serves, by their beats; and this process's own beat. */
  private readonly callers: CallerLiveness;
  private processBeat: NodeJS.Timeout | undefined;
  /** The credit this process offers as a caller; undefined when it does not pace. */
  private readonly credit: CreditLimits | undefined;
  /** The fields every request packet of this process ends with (`RequestPacket`). */
  private readonly packetTail: string;
  /** Where the replies of this process's calls come. */
  private readonly replies = new ReplyInbox();
  private readonly inFlight: CallsInFlight;
  private readonly startTimeoutMs: number;
  private readonly turns = new RoundRobin();
  /** Event listeners subscribed before the connection was made: they subscribe once it is. */
  private readonly earlyListeners: EventListener[] = [];
  /** The NATS URL as lines, errors and readiness show it: without the credentials it may hold. */
  private readonly shownUrl: string;

  constructor(
    private readonly options: NatsTransportOptions,
    resolver: RequestIdResolver,
  ) {
    super();
    this.shownUrl = withoutCredentials(options.url);
    this.heartbeatMs = options.heartbeatMs ?? 1000;
    // Looked at by the callers' sweep, every twentieth of their expiry; stops a heartbeat after this
    // process last heard its own beat (it beats twice a heartbeat), for four heartbeats at most.
    this.livenessClock = new LivenessClock(Math.max(20, this.heartbeatMs / 10), this.heartbeatMs, this.heartbeatMs * 4);
    this.registry = new InstanceRegistry(this.heartbeatMs * 3, this.livenessClock);
    this.client = new ClientNats({
      ...natsServerOptions(options.url),
      name: `threadline-client-${process.pid}`,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
    });
    this.maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.largeItems = new ByteBudget(this.maxMessageBytes * 4);
    // A caller beats twice a heartbeat and counts as gone after four silent beats: its calls' work stops
    // within a few seconds of its death, and a pause of a second or so is no death.
    this.callers = new CallerLiveness(this.heartbeatMs * 2, this.livenessClock);
    const pacing = options.pacing === false ? undefined : options.pacing;
    this.credit = options.pacing === false ? undefined : { ...DEFAULT_CREDIT, ...definedOf(pacing ?? {}) };
    const credit = this.credit && `,"credit":${JSON.stringify(formatCredit(this.credit))}`;
    this.packetTail = `,"caller":${JSON.stringify(this.processId)}${credit ?? ''},"batch":true`;
    this.startTimeoutMs = options.startTimeoutMs ?? 5000;
    this.inFlight = new CallsInFlight(this.registry, this.startTimeoutMs);
    this.server = new NatsEndpointServer(options.url, resolver, this.maxMessageBytes, this.callers, {
      subject: natsSubjects.credit(TRANSPORT_NAMESPACE, this.processId),
      stallMs: pacing?.stallMs ?? DEFAULT_STALL_MS,
    });
  }

  /** Unique across machines and processes, and a valid NATS subject token: `worker-<host>-<pid>-0`. */
  override instanceId(componentName: string, index: number): string {
    const host = hostname()
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .slice(0, 24);
    return `${componentName}-${host}-${process.pid}-${index}`;
  }

  override async start(): Promise<void> {
    const connection = (await connectWithRetry(this.options.url, 'calls', () =>
      this.client.connect(),
    )) as NatsConnection;
    this.connection = connection;
    this.connected = true;
    // The id other processes know this one by (a callee's line about a caller gone silent names it).
    this.logger.log({
      msg: `connected to NATS at ${this.shownUrl} as process ${this.processId}`,
      processId: this.processId,
      pid: process.pid,
      host: hostname(),
    });
    this.replies.start(connection);
    // Nest's NatsStatus is an ambient const enum, which isolatedModules cannot refer to: its string values instead.
    this.client.status.subscribe((status: string) => {
      const connected = status === 'connected';
      if (connected === this.connected) return;
      this.logger[connected ? 'log' : 'error'](`NATS at ${this.shownUrl} ${connected ? 'reconnected' : 'lost'}`);
      this.connected = connected;
      if (!connected) this.inFlight.busLost();
    });
    this.registry.onGone((instanceId) => this.logger.log(`instance ${instanceId} gone (it left, or fell silent)`));
    connection.subscribe(natsSubjects.discovery(TRANSPORT_NAMESPACE), {
      callback: (_error, message) => {
        const beat = message.json<Heartbeat>();
        if (beat.state === 'probe') this.announce(this.state);
        else {
          const processId = typeof beat.processId === 'string' ? beat.processId : undefined;
          this.registry.heard(beat.address, beat.instanceId, beat.state, processId);
        }
      },
    });
    for (const topic of this.queryHandlers.keys()) this.subscribeQueries(topic);
    for (const listener of this.earlyListeners.splice(0)) if (!listener.stopped) this.listen(connection, listener);
    connection.subscribe(natsSubjects.liveness(TRANSPORT_NAMESPACE), {
      callback: (_error, message) => {
        const beat = message.json<ProcessBeat>();
        if (beat.processId === this.processId) this.livenessClock.ownBeatHeard();
        // Its own beats too: this process may call instances it serves itself.
        if (typeof beat.processId === 'string') this.callers.heard(beat.processId, beat.leaving === true);
      },
    });
    // Every process beats, callers that serve nothing included: callees stop the calls of one that stops.
    const beat: ProcessBeat = { processId: this.processId };
    this.publishRaw(natsSubjects.liveness(TRANSPORT_NAMESPACE), beat);
    this.processBeat = setInterval(
      () => this.publishRaw(natsSubjects.liveness(TRANSPORT_NAMESPACE), beat),
      this.heartbeatMs / 2,
    );
    this.processBeat.unref();
    // Ask every running instance to announce itself now, rather than at its next heartbeat, so this
    // process knows its peers by the time it says it is serving.
    this.publishRaw(natsSubjects.discovery(TRANSPORT_NAMESPACE), { state: 'probe' } satisfies Heartbeat);
    await connection.flush();
    await new Promise((resolve) => setTimeout(resolve, 250));
  }

  async serve(instances: readonly LocalInstance[]): Promise<void> {
    this.local = instances;
    if (instances.length === 0) return;
    await this.server.serve(instances);
    this.announce('up');
    this.heartbeat = setInterval(() => this.announce(this.state), this.heartbeatMs);
  }

  async instances(component: ComponentIdentity): Promise<string[]> {
    return this.registry.instances(componentAddress(component));
  }

  override bus(): BusStatus {
    return { needed: true, connected: this.connected, url: this.shownUrl };
  }

  publish(topic: string, payload: unknown): void {
    if (!this.connected) return;
    try {
      this.connection?.publish(natsSubjects.event(TRANSPORT_NAMESPACE, topic), JSON.stringify(payload));
    } catch (error) {
      // Fire and forget: an event the bus refuses (over max_payload) is lost, the call that raised it goes on.
      this.logger.warn({
        msg: `event ${topic} not published: ${error instanceof Error ? error.message : String(error)}`,
        maxPayload: maxPayloadOf(this.connection),
      });
    }
  }

  subscribe(topic: string, handler: (payload: unknown) => void): () => void {
    const listener: EventListener = { topic, handler, subscription: undefined, stopped: false };
    // Before start (a provider's onModuleInit, say) the listener waits for the connection, as in one
    // process it would not need to.
    if (this.connection === undefined) this.earlyListeners.push(listener);
    else this.listen(this.connection, listener);
    return () => {
      listener.stopped = true;
      listener.subscription?.unsubscribe();
    };
  }

  private listen(connection: NatsConnection, listener: EventListener): void {
    listener.subscription = connection.subscribe(natsSubjects.event(TRANSPORT_NAMESPACE, listener.topic), {
      callback: (_error, message) => listener.handler(message.json()),
    });
  }

  override answerQueries(topic: string, handler: QueryHandler): () => void {
    const stop = super.answerQueries(topic, handler);
    if (this.connection !== undefined) this.subscribeQueries(topic);
    return () => {
      stop();
      this.querySubscriptions.get(topic)?.unsubscribe();
      this.querySubscriptions.delete(topic);
    };
  }

  /**
   * This process's answer and every other process's that comes before `timeoutMs`, or before each
   * instance this process knows of has answered (a process that runs no instance is waited for only
   * until the deadline).
   */
  override async ask(topic: string, query: unknown, timeoutMs: number): Promise<unknown[]> {
    const [own, others] = await Promise.all([
      this.answerLocally(topic, query),
      this.connected ? this.gather(topic, query, timeoutMs) : [],
    ]);
    return own === undefined ? others : [own, ...others];
  }

  private gather(topic: string, query: unknown, timeoutMs: number): Promise<unknown[]> {
    const connection = this.connection!;
    const own = new Set(this.local.map((local) => local.instanceId));
    const waitingFor = new Set(this.registry.known().filter((id) => !own.has(id)));
    const answers: unknown[] = [];
    const heard = new Set<string>();
    return new Promise((resolve) => {
      const inbox = createInbox();
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        clearTimeout(deadline);
        subscription.unsubscribe();
        resolve(answers);
      };
      const subscription = connection.subscribe(inbox, {
        callback: (error, message) => {
          const reply = error === null ? parseReply(message) : undefined;
          if (reply === undefined || heard.has(reply.from)) return;
          heard.add(reply.from);
          if (reply.answer !== undefined) answers.push(reply.answer);
          for (const id of reply.instances) waitingFor.delete(id);
          if (waitingFor.size === 0) finish();
        },
      });
      const deadline = setTimeout(finish, timeoutMs);
      const asked: QueryMessage = { from: this.processId, query };
      try {
        connection.publish(natsSubjects.query(TRANSPORT_NAMESPACE, topic), JSON.stringify(asked), { reply: inbox });
      } catch (error) {
        this.logger.warn(`query ${topic} not sent: ${error instanceof Error ? error.message : String(error)}`);
        finish();
      }
    });
  }

  /** Answers the queries on `topic` other processes send; every process subscribes, so each gets them all. */
  private subscribeQueries(topic: string): void {
    if (this.querySubscriptions.has(topic)) return;
    const subscription = this.connection!.subscribe(natsSubjects.query(TRANSPORT_NAMESPACE, topic), {
      callback: (error, message) => {
        if (error !== null || message.reply === undefined || message.reply === '') return;
        const asked = message.json<QueryMessage>();
        if (asked.from === this.processId) return;
        void this.answerLocally(topic, asked.query).then((answer) => {
          const reply: QueryReply = { from: this.processId, instances: this.local.map((local) => local.instanceId) };
          if (answer !== undefined) reply.answer = answer;
          try {
            message.respond(JSON.stringify(reply));
          } catch (failure) {
            // Over max_payload, say: the asker hears nothing from this process and stops at its deadline.
            this.logger.warn(
              `answer to query ${topic} not sent: ${failure instanceof Error ? failure.message : String(failure)}`,
            );
          }
        });
      },
    });
    this.querySubscriptions.set(topic, subscription);
  }

  /**
   * Drains before it closes: the instances say they are draining (routers stop choosing them; their
   * heartbeats go on, so callers of the calls in flight keep waiting for them), the calls in flight
   * finish or are stopped at the end of the grace period, and only then do the instances leave.
   */
  async close(): Promise<void> {
    if (this.local.length > 0) {
      this.state = 'draining';
      this.announce('draining');
      this.logger.log(`draining ${this.local.map((local) => local.instanceId).join(', ')}`);
      await this.server.drain(this.options.shutdownGraceMs);
      clearInterval(this.heartbeat);
      this.announce('leaving');
      await this.connection?.flush().catch(() => undefined);
    }
    clearInterval(this.processBeat);
    this.publishRaw(natsSubjects.liveness(TRANSPORT_NAMESPACE), { processId: this.processId, leaving: true });
    await this.connection?.flush().catch(() => undefined);
    this.callers.close();
    this.inFlight.close();
    this.registry.close();
    this.replies.close();
    await this.client.close();
  }

  protected dispatch(call: OutgoingCall): AsyncIterable<unknown> {
    const where = { requestId: call.requestId, component: call.component.name, endpoint: call.endpoint };
    if (!this.connected) {
      throw new EndpointError({
        ...where,
        message: `The message bus (NATS at ${this.shownUrl}) is unavailable.`,
        status: 503,
        code: 'bus_unavailable',
      });
    }
    const instance = call.options.instance;
    if (instance !== undefined && !this.registry.isAlive(instance)) {
      throw new EndpointError({
        ...where,
        message: `${call.component.name} instance ${instance} is not running.`,
        status: 503,
        code: 'instance_unavailable',
      });
    }
    const { json, upload } = this.serialise(call, where);
    const sent = { where, json, upload };
    return instance === undefined ? this.sendInTurn(call, sent, []) : this.send(call, sent, instance, call.callId);
  }

  /**
   * A call that names no instance goes to the component's live instances in turn, as this process's
   * registry knows them, rather than to its queue group: nats-server would keep handing calls to an
   * instance whose process stalled (a blocked event loop, a long pause) until its own ping timeout,
   * minutes later, where the registry drops it after three silent heartbeats. A call that instance
   * fails before taking it goes to another, then to the queue group once none is left (a stall may end
   * in time to serve it). One registry knows of none (it has only just started, say): the queue group.
   */
  private sendInTurn(
    call: OutgoingCall,
    sent: SentRequest,
    tried: readonly string[],
    insteadOf?: EndpointError,
  ): NatsCall {
    const address = componentAddress(call.component);
    const live = this.registry.takingCalls(address);
    const untried = tried.length === 0 ? live : live.filter((id) => !tried.includes(id));
    const instance = untried.length === 0 ? undefined : this.turns.pick(untried, address);
    const callId = tried.length === 0 ? call.callId : `${call.callId}.${tried.length}`;
    const resend =
      instance === undefined
        ? undefined
        : (failure: EndpointError) => this.sendInTurn(call, sent, [...tried, instance], failure);
    return this.send(call, sent, instance, callId, { resend, insteadOf });
  }

  /** Sends one call, to `instance` or (none named) to the component's queue group. */
  private send(
    call: OutgoingCall,
    { where, json, upload }: SentRequest,
    instance: string | undefined,
    callId: string,
    { resend, insteadOf }: Pick<NatsCallOptions, 'resend' | 'insteadOf'> = {},
  ): NatsCall {
    const subject =
      instance === undefined
        ? natsSubjects.endpoint(call.component, call.endpoint)
        : natsSubjects.instanceEndpoint(call.component, instance, call.endpoint);
    const natsCall = new NatsCall({
      callId,
      where,
      instance,
      resend,
      insteadOf,
      startTimeoutMs: this.startTimeoutMs,
      cancel: () => this.publishRaw(natsSubjects.cancel(call.component), { callId }),
      assembler: () => new ItemAssembler(this.maxMessageBytes, this.largeItems),
      credit: this.credit,
      acknowledge: (subject, read) => this.publishRaw(subject, { callId, read } satisfies CreditMessage),
      onServingInstance: call.span && ((instanceId) => call.span!.setAttribute('threadline.instance_id', instanceId)),
      onUnreachable: (instanceId) => this.registry.unreachable(instanceId),
      onEnd: (ended) => {
        this.inFlight.delete(slot);
        this.replies.forget(replyTo);
        // The request's parts stay offered to a call sent again in this one's place.
        if (!ended.wasResent) upload?.close();
      },
    });
    const slot = this.inFlight.add(natsCall, call.store);
    const replyTo = this.replies.open(natsCall);
    // The call's own id is the packet's.
    const packet = requestPacket(
      subject,
      upload === undefined ? json : 'null',
      callId,
      this.packetFields(call, upload),
    );
    try {
      this.connection!.publish(subject, utf8Payload(packet), { reply: replyTo });
    } catch (error) {
      natsCall.fail(error);
    }
    return natsCall;
  }

  /**
   * The request's JSON; when it is too large for one message, it is offered in parts for the serving
   * instance to pull, and the packet carries only where to find them.
   */
  private serialise(
    call: OutgoingCall,
    where: Pick<OutgoingCall, 'requestId'> & { component: string; endpoint: string },
  ): { json: string; upload?: RequestUpload } {
    const dataBytes = dataBytesPerMessage(maxPayloadOf(this.connection));
    const json = JSON.stringify(call.request) ?? 'null';
    if (json.length * 3 <= dataBytes) return { json };
    const bytes = Buffer.from(json, 'utf8');
    if (bytes.byteLength <= dataBytes) return { json };
    if (bytes.byteLength > this.maxMessageBytes)
      throw new EndpointError({ ...where, ...tooLargeMessage(bytes.byteLength, this.maxMessageBytes) });
    return { json, upload: offerRequest(this.connection!, bytes, dataBytes) };
  }

  /** The JSON of a call's packet fields beside Nest's three (`RequestPacket`), each with its leading comma. */
  private packetFields(call: OutgoingCall, upload: RequestUpload | undefined): string {
    const traceparent = outboundTraceparentOf(call.store);
    const tracestate = traceparent === undefined ? undefined : tracestateOf(call.store);
    const deadline = deadlineOf(call.store);
    return (
      `,"requestId":${JSON.stringify(call.requestId)}` +
      (traceparent === undefined ? '' : `,"traceparent":"${traceparent}"`) +
      (tracestate === undefined ? '' : `,"tracestate":${JSON.stringify(tracestate)}`) +
      (deadline === undefined ? '' : `,"deadline":${deadline}`) +
      (upload === undefined ? '' : `,"parts":${JSON.stringify(upload.header)}`) +
      this.packetTail
    );
  }

  private announce(state: 'up' | 'draining' | 'leaving'): void {
    const { processId } = this;
    for (const local of this.local) {
      const beat: Heartbeat = {
        state,
        address: componentAddress(local.identity),
        instanceId: local.instanceId,
        processId,
      };
      this.publishRaw(natsSubjects.discovery(TRANSPORT_NAMESPACE), beat);
    }
  }

  private publishRaw(subject: string, payload: unknown): void {
    if (this.connected) this.connection?.publish(subject, utf8Payload(JSON.stringify(payload)));
  }
}

function parseReply(message: Msg): QueryReply | undefined {
  try {
    const reply = message.json<QueryReply>();
    return typeof reply.from === 'string' && Array.isArray(reply.instances) ? reply : undefined;
  } catch {
    return undefined;
  }
}

/** `settings` without the keys set to `undefined`: spread over defaults, such a key keeps the default. */
function definedOf<T extends object>(settings: T): Partial<T> {
  return Object.fromEntries(Object.entries(settings).filter(([, value]) => value !== undefined)) as Partial<T>;
}
