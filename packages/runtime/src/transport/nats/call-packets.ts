import { createInbox } from '@nats-io/transport-node';
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import { Observable } from 'rxjs';
import { itemJson } from './item-parts.js';
import type { WireFrame } from './nats-subjects.js';

/**
 * The messages of a call, in the JSON framing of @nestjs/microservices' NATS transport, which earlier
 * versions of this transport sent through Nest's client and server and which peers of those versions
 * still speak: a request `{ pattern, data, id }`, replies `{ id, response }`, the last one marked
 * `isDisposed`, or `{ id, err, isDisposed }`. Sent and read here directly, for what Nest's layers cost
 * on every call: a subscription made and dropped per call on the caller, and one socket write per reply
 * on the callee.
 */
export interface RequestPacket {
  pattern: string;
  data: unknown;
  id: string;
}

export interface ReplyPacket {
  id?: string;
  response?: WireFrame;
  err?: unknown;
  isDisposed?: boolean;
}

/**
 * One subscription for the replies of every call this process makes (`<inbox>.*`), each call on its own
 * token of it, instead of a subscription per call.
 */
export class ReplyInbox {
  private readonly prefix = createInbox();
  private readonly calls = new Map<string, (packet: ReplyPacket) => void>();
  private subscription: Subscription | undefined;
  private next = 0;

  start(connection: NatsConnection): void {
    const skip = this.prefix.length + 1;
    this.subscription = connection.subscribe(`${this.prefix}.*`, {
      callback: (error, message) => {
        if (error !== null) return;
        const handler = this.calls.get(message.subject.slice(skip));
        if (handler === undefined) return;
        handler(replyOf(message));
      },
    });
  }

  /**
   * The replies to a request as an Observable of frames, as Nest's client gave them: subscribing
   * publishes the request (`send`, given the reply subject), unsubscribing stops listening.
   */
  request(send: (replyTo: string) => void): Observable<WireFrame> {
    return new Observable<WireFrame>((subscriber) => {
      const token = (this.next++).toString(36);
      this.calls.set(token, ({ err, response, isDisposed }) => {
        if (err !== undefined && err !== null) subscriber.error(err);
        else {
          if (response !== undefined) subscriber.next(response);
          if (isDisposed === true) subscriber.complete();
        }
      });
      try {
        send(`${this.prefix}.${token}`);
      } catch (error) {
        subscriber.error(error);
      }
      return () => this.calls.delete(token);
    });
  }

  close(): void {
    this.subscription?.unsubscribe();
    this.calls.clear();
  }
}

function replyOf(message: Msg): ReplyPacket {
  if (message.data.length === 0) return { err: new Error('The callee sent an empty reply.'), isDisposed: true };
  try {
    return message.json<ReplyPacket>();
  } catch (error) {
    return { err: error, isDisposed: true };
  }
}

/**
 * The replies of one call on the callee, sent together at the end of the current turn of microtasks:
 * the start frame, an item ready at once and the end of a unary call then leave in one socket write.
 */
export class ReplySender {
  /** The replies waiting for the end of the turn, serialised; the last one may still be marked the end. */
  private queued: string[] = [];
  private lastEnds = false;
  private scheduled = false;
  private readonly idJson: string;

  constructor(
    private readonly message: Msg,
    private readonly id: string,
  ) {
    this.idJson = JSON.stringify(id);
  }

  frame(response: WireFrame): void {
    const json = itemJson.get(response);
    if (json === undefined) this.queue(`{"id":${this.idJson},"response":${JSON.stringify(response)}}`, false);
    else {
      // The item's JSON, as itemFrames made it: not serialised again.
      const size = response.kind === 'item' && response.size !== undefined ? `,"size":${response.size}` : '';
      this.queue(`{"id":${this.idJson},"response":{"kind":"item","value":${json}${size}}}`, false);
    }
  }

  fail(err: unknown): void {
    this.queue(JSON.stringify({ id: this.id, err, isDisposed: true } satisfies ReplyPacket), true);
  }

  complete(): void {
    const last = this.queued.length - 1;
    if (last >= 0 && !this.lastEnds) {
      this.queued[last] = `${this.queued[last]!.slice(0, -1)},"isDisposed":true}`;
      this.lastEnds = true;
    } else this.queue(`{"id":${this.idJson},"isDisposed":true}`, true);
  }

  private queue(packet: string, ends: boolean): void {
    this.queued.push(packet);
    this.lastEnds = ends;
    if (this.scheduled) return;
    this.scheduled = true;
    // A tick queued from a microtask runs once the microtasks queued meanwhile have run too.
    queueMicrotask(() => process.nextTick(() => this.flush()));
  }

  private flush(): void {
    this.scheduled = false;
    const packets = this.queued;
    this.queued = [];
    for (const packet of packets) {
      try {
        this.message.respond(packet);
      } catch {
        // The connection is closing, or a reply is over max_payload (items are cut to fit): the caller's
        // own watch (instance gone, bus lost) ends its call.
      }
    }
  }
}

/** The request packet of a call, its data already serialised (`null` when it travels in parts). */
export function requestPacket(subject: string, dataJson: string, id: string): string {
  return `{"pattern":${JSON.stringify(subject)},"data":${dataJson},"id":${JSON.stringify(id)}}`;
}
