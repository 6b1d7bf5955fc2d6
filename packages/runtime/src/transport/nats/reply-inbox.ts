import { randomBytes } from 'node:crypto';
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import type { ReplyPacket } from './call-packets.js';
import type { WireFrame } from './nats-subjects.js';

/** What a call does with its replies as they come: frames, then exactly one of `fail` or `complete`. */
export interface ReplyHandler {
  /** The call's own id: its callee's replies carry it. */
  readonly callId: string;
  /** Whether the callee has ended the call: nothing more comes for it. */
  readonly answered: boolean;
  frame(frame: WireFrame): void;
  fail(error: unknown): void;
  complete(): void;
}

/** A place for one call at a time in the inbox, and the subject its replies come to. */
interface Slot {
  subject: string;
  handler: ReplyHandler | undefined;
}

/**
 * One subscription for the replies of every call this process makes (`<inbox>.*`), each call on a slot
 * of it, instead of a subscription per call. A slot's subject is its index in base 36, and a later call
 * takes the slot, and its subject, once the call on it is over: nats-server keeps the subjects it has
 * matched in a cache, and a new reply subject for every call would be matched afresh, and cached, each
 * time. A call that ended otherwise than by its callee (cancelled, timed out, its instance gone) leaves
 * its slot a new subject (`<index>-<n>`), since a reply, or a "no responders" status, may still come on
 * the old one. A reply that names another call than the slot's is dropped.
 *
 * The slots are an array, reused and never deleted, rather than a map of subjects: a map that empties
 * at the end of every call is shrunk, and so allocated again, by V8 each time (bench/README.md, "Tables
 * that empty at every call").
 */
export class ReplyInbox {
  private readonly prefix = shortInbox();
  private readonly slots: Slot[] = [];
  /** The indices of the slots with no call. */
  private readonly free: number[] = [];
  /** How many subjects slots were given in place of their first: the suffix of the next. */
  private renamed = 0;
  private subscription: Subscription | undefined;

  start(connection: NatsConnection): void {
    const skip = this.prefix.length + 1;
    this.subscription = connection.subscribe(`${this.prefix}.*`, {
      callback: (error, message) => {
        if (error !== null) return;
        const subject = message.subject;
        // parseInt reads the index and stops at a renamed subject's `-`.
        const slot = this.slots[parseInt(subject.slice(skip), 36)];
        if (slot?.handler === undefined || slot.subject !== subject) return;
        const handler = slot.handler;
        const reply = replyOf(message);
        // A status from the server names no call: it is about the request sent on this subject last.
        if (reply.id === undefined || reply.id === handler.callId) deliver(handler, reply);
      },
    });
  }

  /** Sends the replies of `handler`'s call that come to the returned subject to it, until `forget(subject)`. */
  open(handler: ReplyHandler): string {
    const index = this.free.pop();
    if (index === undefined) {
      const slot = { subject: `${this.prefix}.${this.slots.length.toString(36)}`, handler };
      this.slots.push(slot);
      return slot.subject;
    }
    const slot = this.slots[index]!;
    slot.handler = handler;
    return slot.subject;
  }

  /** The call on `subject` is over: its slot goes to a later call, with a new subject unless its callee ended it. */
  forget(subject: string): void {
    const index = parseInt(subject.slice(this.prefix.length + 1), 36);
    const slot = this.slots[index];
    if (slot?.handler === undefined || slot.subject !== subject) return;
    if (!slot.handler.answered) slot.subject = `${this.prefix}.${index.toString(36)}-${(this.renamed++).toString(36)}`;
    slot.handler = undefined;
    this.free.push(index);
  }

  close(): void {
    this.subscription?.unsubscribe();
    this.slots.length = 0;
    this.free.length = 0;
  }
}

/**
 * This process's reply inbox: a subject under `_INBOX.` (where nats-server's permissions usually let
 * clients take replies), made unique by 72 random bits in 12 characters rather than the NATS client's
 * 22. Every call's request carries it and its reply is sent to it, and the NATS client reads a message's
 * subjects byte by byte on both sides of the call.
 */
function shortInbox(): string {
  return `_INBOX.${randomBytes(9).toString('base64url')}`;
}

/**
 * What a call hears when nothing listens on its subject: the server's "no responders" status, which it
 * sends to the reply subject of a request nobody is subscribed to (an instance gone, none started).
 */
export const NO_RESPONDERS = Symbol('no responders');

function replyOf(message: Msg): ReplyPacket {
  if (message.data.length === 0) {
    const noResponders = message.headers?.hasError === true && message.headers.code === 503;
    return { err: noResponders ? NO_RESPONDERS : new Error('The callee sent an empty reply.'), isDisposed: true };
  }
  try {
    return message.json<ReplyPacket>();
  } catch (error) {
    return { err: error, isDisposed: true };
  }
}

function deliver(handler: ReplyHandler, { response, responses, err, isDisposed }: ReplyPacket): void {
  if (Array.isArray(responses)) for (const frame of responses) handler.frame(frame);
  else if (response !== undefined) handler.frame(response);
  if (err !== undefined && err !== null) handler.fail(err);
  else if (isDisposed === true) handler.complete();
}
