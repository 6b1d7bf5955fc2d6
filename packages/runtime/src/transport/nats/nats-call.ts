import { END_SPAN_WITH_ITERATION, IterationSpans } from '@threadline/tracing/internal';
import type { Span, SpanEndingHost, SpanItemObserver } from '@threadline/tracing/internal';
import { EndpointError } from '../../endpoint.error.js';
import type { EndpointErrorData } from '../../endpoint.error.js';
import { stoppedCallFailure } from '../../told-stop-reason.js';
import { NO_RESPONDERS } from './reply-inbox.js';
import type { ReplyHandler } from './reply-inbox.js';
import { frameBytes } from './item-parts.js';
import type { ItemAssembler } from './item-parts.js';
import type { WireFrame } from './nats-subjects.js';
import { CreditReader } from './stream-credit.js';
import type { CreditLimits } from './stream-credit.js';

export interface NatsCallOptions {
  /** The call's own id, which its packet and its callee's replies carry. */
  callId: string;
  where: Pick<EndpointErrorData, 'requestId' | 'component' | 'endpoint'>;
  /**
   * The instance the call was sent to, when it named one: the registry dropping it fails the call
   * before any instance took it, as it fails a call that instance is serving.
   */
  instance?: string | undefined;
  /** How long the call waits for an instance to take it (the transport's sweep checks `checkStarted`). */
  startTimeoutMs: number;
  /** Tells the serving instance to stop; called when the consumer stops before the callee ended. */
  cancel: () => void;
  /** Puts back together the items that arrive in parts; made when the first part comes. */
  assembler: () => ItemAssembler;
  /** The credit offered with the call; undefined when it offered none. */
  credit?: CreditLimits | undefined;
  /** Sends an acknowledgement (frames read in all) to the subject the serving instance named. */
  acknowledge?: (subject: string, read: number) => void;
  /** Told which instance took the call, when it says so. */
  onServingInstance?: ((instanceId: string) => void) | undefined;
  /** Told when the instance the call named was found not listening (nats-server's "no responders"). */
  onUnreachable?: ((instanceId: string) => void) | undefined;
  /** Called once when the call is over, however it ended: releases what the caller holds for it. */
  onEnd: (call: NatsCall) => void;
  /**
   * Sends the call again, as a new call, when the instance it was sent to failed it before taking it
   * (gone, not listening, not answering in time), given the failure this call would have ended with:
   * absent, such a call fails. The new call's items are this one's.
   */
  resend?: ((failure: EndpointError) => NatsCall) | undefined;
  /**
   * The failure of the call this one was sent in place of. Should this one find no instance to take it
   * either, its caller is told that failure (the instance the call was sent to first is gone, say),
   * not merely that nobody took the call.
   */
  insteadOf?: EndpointError | undefined;
}

/** An item as it arrived: its value, and the frames and bytes pacing counts for it. */
interface Arrived {
  value: unknown;
  frames: number;
  bytes: number;
}

const DONE: IteratorResult<unknown> = { done: true, value: undefined };

/**
 * The caller's side of one call over NATS: it takes the call's replies (`ReplyHandler`) and is the
 * async iterator of the endpoint's items. It never hangs on a peer that is gone: the transport tells it
 * when no instance took it in time, when an instance leaves the registry or when the bus is lost,
 * and it ends with a 503 EndpointError naming the request. Items that came before a failure are read
 * first. An iterator object rather than an async generator over a queue: a unary call is two `next()`s.
 */
export class NatsCall implements ReplyHandler, SpanEndingHost<unknown> {
  private readonly arrived: Array<Arrived | undefined> = [];
  /** The caller's spans around this call (its `client` span), ended with its iteration. */
  private spans: IterationSpans<unknown> | undefined;
  private head = 0;
  /** The consumer waiting for the next item, when none has arrived. */
  private waiter: { resolve: (result: IteratorResult<unknown>) => void; reject: (error: unknown) => void } | undefined;
  /** The item handed out last: asking for the next one is what says it was read. */
  private handedOut: Arrived | undefined;
  private failure: { error: unknown } | undefined;
  /** The callee ended the call (its last reply came), normally or not. */
  private calleeEnded = false;
  private over = false;
  private started = false;
  private servingInstance: string | undefined;
  /** Set when the serving instance paces the call: it then waits for acknowledgements. */
  private reader: CreditReader | undefined;
  private assembler: ItemAssembler | undefined;
  /** Frames and bytes of the parts of the item being put together, and of those, already counted as read. */
  private partFrames = 0;
  private partBytes = 0;
  private partFramesRead = 0;
  private partBytesRead = 0;
  /** When the call fails if no instance has taken it, in `performance.now()` milliseconds. */
  private readonly startBy: number;
  /** The call sent again in this one's place (`NatsCallOptions.resend`): this one's iteration is its. */
  private successor: NatsCall | undefined;

  constructor(private readonly options: NatsCallOptions) {
    this.servingInstance = options.instance;
    this.startBy = performance.now() + options.startTimeoutMs;
  }

  get callId(): string {
    return this.options.callId;
  }

  /** Whether the call was sent again in its place (`NatsCallOptions.resend`). */
  get wasResent(): boolean {
    return this.successor !== undefined;
  }

  /** Whether the callee ended the call (its last reply came, or the server said nobody listens). */
  get answered(): boolean {
    return this.calleeEnded;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<unknown>> {
    if (this.successor !== undefined) return this.successor.next();
    if (this.handedOut !== undefined) {
      // Once the callee has ended the call it sends nothing more: credit would be wasted on it.
      if (!this.calleeEnded) this.reader?.consumed(this.handedOut.frames, this.handedOut.bytes);
      this.handedOut = undefined;
    }
    if (this.over) return Promise.resolve(DONE);
    if (this.head < this.arrived.length) return Promise.resolve({ value: this.take().value, done: false });
    if (this.failure !== undefined) {
      this.end(this.failure);
      return Promise.reject(this.failure.error);
    }
    if (this.calleeEnded) {
      this.end('done');
      return Promise.resolve(DONE);
    }
    this.partsRead();
    return new Promise((resolve, reject) => (this.waiter = { resolve, reject }));
  }

  /**
   * The consumer waits for an item that is coming in parts: the parts so far count as read. An item
   * larger than the credit window could not be read otherwise, its callee waiting for acknowledgements
   * of parts the caller cannot hand out before the last one comes. A consumer that is not waiting
   * (stuck, or busy with the item before) acknowledges no parts: pacing still holds the stream back.
   */
  private partsRead(): void {
    if (this.reader === undefined || this.partFrames === this.partFramesRead) return;
    this.reader.consumed(this.partFrames - this.partFramesRead, this.partBytes - this.partBytesRead);
    this.partFramesRead = this.partFrames;
    this.partBytesRead = this.partBytes;
  }

  /** The consumer stops: a call the callee has not ended is cancelled, and a `next()` still waiting ends. */
  return(): Promise<IteratorResult<unknown>> {
    if (this.successor !== undefined) return this.successor.return();
    this.end('cancelled');
    const waiting = this.waiter;
    this.waiter = undefined;
    waiting?.resolve(DONE);
    return Promise.resolve(DONE);
  }

  /** Takes `span` to end with this call's iteration, rather than a wrapper around it adding a step per item. */
  [END_SPAN_WITH_ITERATION](span: Span, observer?: SpanItemObserver<unknown>): boolean {
    if (this.successor !== undefined) return this.successor[END_SPAN_WITH_ITERATION](span, observer);
    if (this.over) return false;
    return (this.spans ??= new IterationSpans()).add(span, observer);
  }

  frame(frame: WireFrame): void {
    if (this.calleeEnded || this.failure !== undefined) return;
    if (frame.kind === 'item') {
      const bytes = frameBytes(frame);
      this.reader?.received(1, bytes);
      this.arrive({ value: frame.value, frames: 1, bytes });
    } else if (frame.kind === 'part') {
      try {
        this.partFrames++;
        this.partBytes += frameBytes(frame);
        this.reader?.received(1, frameBytes(frame));
        const item = (this.assembler ??= this.options.assembler()).add(frame);
        if (item !== undefined) {
          const frames = this.partFrames - this.partFramesRead;
          const bytes = this.partBytes - this.partBytesRead;
          this.partFrames = this.partBytes = this.partFramesRead = this.partBytesRead = 0;
          this.arrive({ value: item.value, frames, bytes });
        } else if (this.waiter !== undefined) this.partsRead();
      } catch (failure) {
        this.failHere(EndpointError.from(failure, this.options.where));
      }
    } else {
      this.started = true;
      this.servingInstance = frame.instanceId;
      const { credit, acknowledge } = this.options;
      const subject = frame.credit;
      if (subject !== undefined && credit !== undefined && acknowledge !== undefined)
        this.reader = new CreditReader(credit, (read) => acknowledge(subject, read));
      this.options.onServingInstance?.(frame.instanceId);
    }
  }

  /** The callee failed the call (its error as it came over the wire), or nothing listened for it. */
  fail(error: unknown): void {
    if (this.calleeEnded || this.failure !== undefined) return;
    this.calleeEnded = true;
    if (error !== NO_RESPONDERS) this.failWith(fromWire(error, this.options.where));
    else {
      const { where, instance } = this.options;
      // The instance the call named has stopped listening (killed, left): gone, whatever the registry says yet.
      if (instance !== undefined) this.options.onUnreachable?.(instance);
      const [message, code] =
        instance === undefined
          ? [`No instance of ${where.component} is listening for calls.`, 'component_unavailable']
          : [`${where.component} instance ${instance} went away before taking the call.`, 'instance_gone'];
      const failure = new EndpointError({ ...where, message, status: 503, code });
      if (this.resendInstead(failure)) return;
      this.failWith(instance === undefined ? this.untaken(failure) : failure);
    }
  }

  complete(): void {
    if (this.calleeEnded || this.failure !== undefined) return;
    this.calleeEnded = true;
    if (this.waiter !== undefined) {
      const { resolve } = this.waiter;
      this.waiter = undefined;
      this.end('done');
      resolve(DONE);
    }
  }

  /** Fails the call if no instance has taken it by its start deadline. */
  checkStarted(now: number): void {
    if (this.started || now < this.startBy) return;
    const { where, startTimeoutMs } = this.options;
    const failure = this.unavailable(
      `No instance of ${where.component} took the call within ${startTimeoutMs} ms.`,
      'no_instance_answered',
    );
    if (!this.resendInstead(failure)) this.failHere(this.untaken(failure));
  }

  /** An instance left the registry: the call fails if it was sent to it or served by it. */
  instanceGone(instanceId: string): void {
    if (instanceId !== this.servingInstance) return;
    const when = this.started ? 'while serving the call' : 'before taking the call';
    const failure = this.unavailable(
      `${this.options.where.component} instance ${instanceId} went away ${when}.`,
      'instance_gone',
    );
    if (!this.resendInstead(failure)) this.failHere(failure);
  }

  /**
   * `failure`, which says only that no instance took the call, as its caller is told it: a call sent
   * again in place of another reports what befell that one (its instance gone), which is what happened.
   */
  private untaken(failure: EndpointError): EndpointError {
    const earlier = this.options.insteadOf;
    if (earlier === undefined) return failure;
    const message = `${earlier.message.replace(/\.$/, '')}, and no other instance took it in its place.`;
    return new EndpointError({ ...earlier.toJSON(), message });
  }

  /**
   * The caller's request was cancelled (its signal aborted with `reason`): across processes the callee
   * does not share the signal, so the call fails here and its callee is told to stop. A deadline that
   * passed says so (a 504), whoever notices it first, and so does a server's stop (`isToldStopReason`).
   */
  cancelled(reason: unknown): void {
    this.failHere(stoppedCallFailure(reason, this.options.where));
  }

  busLost(): void {
    this.failHere(this.unavailable('The connection to the message bus was lost during the call.', 'bus_lost'));
  }

  /**
   * Sends the call again in this one's place, if it may be (nothing of it came yet, and the consumer is
   * still reading): this call ends, telling its callee to stop should it take it after all, and a `next()`
   * waiting on it waits on the new call.
   */
  private resendInstead(failure: EndpointError): boolean {
    if (this.started || this.over || this.failure !== undefined || this.options.resend === undefined) return false;
    const successor = this.options.resend(failure);
    this.successor = successor;
    if (this.spans !== undefined) successor.spans = this.spans;
    this.spans = undefined;
    const waiting = this.waiter;
    this.waiter = undefined;
    this.end('resent');
    if (waiting !== undefined) successor.next().then(waiting.resolve, waiting.reject);
    return true;
  }

  private unavailable(message: string, code: string): EndpointError {
    return new EndpointError({ ...this.options.where, message, status: 503, code });
  }

  /** A failure noticed on this side (cancelled, peer gone, bus lost): none counts once the callee ended. */
  private failHere(error: unknown): void {
    if (!this.calleeEnded) this.failWith(error);
  }

  private arrive(item: Arrived): void {
    if (this.waiter === undefined) {
      this.arrived.push(item);
      return;
    }
    const { resolve } = this.waiter;
    this.waiter = undefined;
    this.handedOut = item;
    this.spans?.item(item.value);
    resolve({ value: item.value, done: false });
  }

  private take(): Arrived {
    const item = this.arrived[this.head]!;
    this.arrived[this.head++] = undefined;
    if (this.head === this.arrived.length) {
      this.arrived.length = 0;
      this.head = 0;
    }
    this.handedOut = item;
    this.spans?.item(item.value);
    return item;
  }

  /** Only the first failure counts; a consumer waiting hears of it at once, else after the items queued. */
  private failWith(error: unknown): void {
    if (this.failure !== undefined || this.over) return;
    this.failure = { error };
    if (this.waiter !== undefined) {
      const { reject } = this.waiter;
      this.waiter = undefined;
      this.end(this.failure);
      reject(error);
    }
  }

  /** The call is over for its consumer: it read the end or the failure, or stopped. */
  private end(outcome: 'done' | 'cancelled' | 'resent' | { error: unknown }): void {
    if (this.over) return;
    this.over = true;
    if (outcome === 'done') this.spans?.done();
    else if (outcome === 'cancelled') this.spans?.cancelled();
    else if (outcome !== 'resent') this.spans?.failed(outcome.error);
    this.assembler?.release();
    this.options.onEnd(this);
    if (!this.calleeEnded) this.options.cancel();
  }
}

/** An error as it arrives from the wire (an EndpointError's JSON, or a transport failure) as an EndpointError. */
function fromWire(error: unknown, where: NatsCallOptions['where']): EndpointError {
  const data = error as Partial<EndpointErrorData> | undefined;
  if (data && typeof data.message === 'string' && typeof data.status === 'number' && typeof data.code === 'string') {
    return new EndpointError({ ...where, ...data } as EndpointErrorData);
  }
  const failure = EndpointError.from(error, where);
  // A failure of the transport itself (the connection lost, the client closed) means "unavailable".
  return failure.status === 500
    ? new EndpointError({ ...failure.toJSON(), status: 503, code: 'transport_error' })
    : failure;
}
