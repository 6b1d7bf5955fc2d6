import type { Msg } from '@nats-io/transport-node';
import { FRAME_JSON } from './nats-subjects.js';
import type { SerialisedFrame, WireFrame } from './nats-subjects.js';
import { utf8Payload } from './utf8-payload.js';

/**
 * The messages of a call, in the JSON framing of @nestjs/microservices' NATS transport: a request
 * `{ pattern, data, id }`, replies `{ id, response }`, the last one marked `isDisposed`, or
 * `{ id, err, isDisposed }`, each reply's `response` one of the runtime's frames (`WireFrame`).
 * Sent and read here directly, for what Nest's layers cost on every call: a subscription made and
 * dropped per call on the caller, and one message per reply on the callee.
 *
 * Threadline's callers add what a call needs beside its data to the request (Nest ignores unknown
 * fields), instead of headers that each call would encode and decode: the request id and trace context,
 * the calling process, the deadline, the credit it offers, where a request too large for one message
 * waits, and `batch`, saying it reads replies that carry several frames at once (`responses`). A call
 * without `requestId` (another client's) has its id and trace context read from its headers.
 */
export interface RequestPacket {
  pattern: string;
  data: unknown;
  /** The call's own id: cancellation is keyed by it. */
  id: string;
  /** The request id, resolved by the callee's policy as an incoming header is; absent, headers are read. */
  requestId?: string;
  /** The W3C trace context of the calling span. */
  traceparent?: string;
  /** The request's W3C `tracestate`, beside its `traceparent`, as the request brought it. */
  tracestate?: string;
  /** The calling process: the callee stops the call if that process goes silent (`caller-liveness.ts`). */
  caller?: string;
  /** When the caller stops waiting, in epoch milliseconds: the callee stops the call then. */
  deadline?: number;
  /** The credit the caller offers, as `formatCredit` writes it (`stream-credit.ts`). */
  credit?: string;
  /** Where the request waits when it is too large for one message (`request-upload.ts`); `data` is null. */
  parts?: string;
  /** The caller reads replies that carry several frames (`responses`). */
  batch?: boolean;
}

export interface ReplyPacket {
  id?: string;
  response?: WireFrame;
  /** Several frames at once, in order, to a caller that asked for `batch`. */
  responses?: WireFrame[];
  err?: unknown;
  isDisposed?: boolean;
}

/** `frame` with its JSON made once, for a frame that every call of an instance sends alike. */
export function constantFrame<F extends WireFrame>(frame: F): F & { readonly [FRAME_JSON]: string } {
  return { ...frame, [FRAME_JSON]: JSON.stringify(frame) };
}

/**
 * The replies of one call on the callee, sent together once the I/O the event loop has taken in has been
 * handled (in a `setImmediate` shared by every call, so that the messages of all of them leave in one
 * socket write), or at once when the call ends (nothing can follow its end): to a caller that reads
 * batches, the start frame, an item ready at once and the end of a unary call leave as one message; to
 * another, as one message each. Waiting for the I/O rather than for the end of the microtasks lets the
 * items a stream makes from several messages read in one turn (a Processor's from its Workers) go as one
 * message. A batch holds at most `maxBytes` of frames (each frame fits one message: `item-parts.ts`).
 */
export class ReplySender {
  /** The senders with frames waiting, flushed together. */
  private static readonly waiting: ReplySender[] = [];

  /** The JSON of the frames waiting to be sent. */
  private queued: string[] = [];
  /** The call's start frame until its first message: offering pacing, and not (see `begin`). */
  private start: { paced: SerialisedFrame; unpaced: SerialisedFrame } | undefined;
  /** How the call ended, once it did: the fields that close its last reply. */
  private end: string | undefined;
  private scheduled = false;
  private readonly head: string;

  constructor(
    private readonly message: Msg,
    id: string,
    private readonly batch: boolean,
    /** The most bytes of frames one message carries: the serving instance cuts items to it. */
    readonly maxBytes: number,
  ) {
    this.head = `{"id":${JSON.stringify(id)}`;
  }

  /**
   * The call's start frame, sent first: `paced` names where acknowledgements go, `unpaced` does not. A
   * call whose first message is also its last (a unary answer ready within the turn, say) goes unpaced:
   * nothing follows for its caller to acknowledge, so it keeps no count of what it read.
   */
  begin(paced: SerialisedFrame, unpaced: SerialisedFrame): void {
    this.start = { paced, unpaced };
    this.schedule();
  }

  frame(response: SerialisedFrame): void {
    this.queue(response[FRAME_JSON] ?? JSON.stringify(response));
  }

  fail(err: unknown): void {
    this.end = `,"err":${JSON.stringify(err) ?? 'null'},"isDisposed":true`;
    this.flush();
  }

  complete(): void {
    this.end = ',"isDisposed":true';
    this.flush();
  }

  private queue(frame: string): void {
    this.queued.push(frame);
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    if (ReplySender.waiting.push(this) === 1) setImmediate(ReplySender.flushWaiting);
  }

  private static flushWaiting(this: void): void {
    // A sender whose flush has it queue again (its stream goes on) waits for the next round.
    for (const sender of ReplySender.waiting.splice(0)) sender.flush();
  }

  private flush(): void {
    this.scheduled = false;
    const end = this.end;
    const frames = this.start === undefined ? this.queued : [this.startJson(end !== undefined), ...this.queued];
    this.start = undefined;
    this.queued = [];
    this.end = undefined;
    if (this.batch) this.sendBatches(frames, end);
    else {
      // One reply per frame; a failure is a reply of its own, a normal end marks the last frame's.
      const last = end !== undefined && !end.startsWith(',"err"') ? frames.length - 1 : -1;
      frames.forEach((frame, index) => this.send(`${this.head},"response":${frame}${index === last ? end : ''}}`));
      if (end !== undefined && last < 0) this.send(`${this.head}${end}}`);
    }
  }

  private startJson(lastMessage: boolean): string {
    const frame = lastMessage ? this.start!.unpaced : this.start!.paced;
    return frame[FRAME_JSON] ?? JSON.stringify(frame);
  }

  private sendBatches(frames: string[], end: string | undefined): void {
    let batch: string[] = [];
    let bytes = 0;
    for (const frame of frames) {
      // Every character of a JSON text is at most 3 UTF-8 bytes: most frames are sized without encoding.
      const size = frame.length * 3 <= this.maxBytes ? frame.length * 3 : Buffer.byteLength(frame);
      if (batch.length > 0 && bytes + size > this.maxBytes) {
        this.send(`${this.head},"responses":[${batch.join(',')}]}`);
        batch = [];
        bytes = 0;
      }
      batch.push(frame);
      bytes += size;
    }
    const tail = end ?? '';
    if (batch.length > 0 && bytes + tail.length * 3 > this.maxBytes) {
      this.send(`${this.head},"responses":[${batch.join(',')}]}`);
      batch = [];
    }
    if (batch.length > 0) this.send(`${this.head},"responses":[${batch.join(',')}]${tail}}`);
    else if (end !== undefined) this.send(`${this.head}${tail}}`);
  }

  private send(packet: string): void {
    try {
      this.message.respond(utf8Payload(packet));
    } catch {
      // The connection is closing, or a reply is over max_payload: the caller's own watch (instance gone,
      // bus lost) ends its call.
    }
  }
}

/**
 * A call's request packet, its data already serialised (`null` when it travels in parts); `extra` is the
 * JSON of the packet's other fields, each with its leading comma.
 */
export function requestPacket(subject: string, dataJson: string, id: string, extra = ''): string {
  return `{"pattern":${JSON.stringify(subject)},"data":${dataJson},"id":${JSON.stringify(id)}${extra}}`;
}
