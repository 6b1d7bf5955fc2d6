import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { describeWithNats, startNatsServer } from '../../../../../test/support/nats-server.js';
import type { NatsServer } from '../../../../../test/support/nats-server.js';
import { waitUntil } from '../../../../../test/support/wait-for.js';
import { NO_RESPONDERS, ReplyInbox } from './reply-inbox.js';
import type { ReplyHandler } from './reply-inbox.js';

describeWithNats('ReplyInbox, on a real nats-server', () => {
  let server: NatsServer;
  let caller: NatsConnection;
  let callee: NatsConnection;
  let inbox: ReplyInbox;
  beforeAll(async () => {
    server = await startNatsServer();
    caller = await connect({ servers: server.url });
    callee = await connect({ servers: server.url });
  });
  afterAll(async () => {
    await caller?.close();
    await callee?.close();
    await server?.stop();
  });
  beforeEach(async () => {
    inbox = new ReplyInbox();
    inbox.start(caller);
    // The subscription is in place at the server before any reply is sent to it.
    await caller.flush();
  });
  afterEach(() => inbox.close());

  /**
   * The handler of call `callId`, which records what it hears, as `frame:<kind>`, `fail` and `complete`;
   * `answered` says whether its callee ended it.
   */
  function recorder(callId: string): ReplyHandler & { heard: unknown[]; answered: boolean } {
    const heard: unknown[] = [];
    return {
      callId,
      answered: false,
      heard,
      frame: (frame) => heard.push(`frame:${frame.kind}`),
      fail: (error) => heard.push(error === NO_RESPONDERS ? 'no responders' : 'fail'),
      complete: () => heard.push('complete'),
    };
  }

  /** Sends `packet` as a callee's reply on `subject`, and waits until the caller's connection has had it. */
  async function reply(subject: string, packet: object): Promise<void> {
    callee.publish(subject, JSON.stringify(packet));
    await callee.flush();
    await caller.flush();
  }

  const answer = (id: string) => ({ id, responses: [{ kind: 'item', value: 1 }], isDisposed: true });

  it('gives the subject of a call its callee ended to the next call', async () => {
    const first = recorder('call-1');
    const subject = inbox.open(first);
    await reply(subject, answer('call-1'));
    expect(first.heard).toEqual(['frame:item', 'complete']);
    first.answered = true;
    inbox.forget(subject);
    const second = recorder('call-2');
    expect(inbox.open(second)).toBe(subject);
    await reply(subject, answer('call-2'));
    expect(second.heard).toEqual(['frame:item', 'complete']);
    expect(first.heard).toHaveLength(2);
  });

  it('does not use again the subject of a call that ended unanswered: what comes later on it reaches no call', async () => {
    const first = recorder('call-1');
    const subject = inbox.open(first);
    inbox.forget(subject);
    const second = recorder('call-2');
    const next = inbox.open(second);
    expect(next).not.toBe(subject);
    await reply(subject, answer('call-1'));
    await reply(next, answer('call-2'));
    expect(first.heard).toEqual([]);
    expect(second.heard).toEqual(['frame:item', 'complete']);
  });

  it('gives every call that ends unanswered a subject of its own, and every earlier one reaches no call', async () => {
    const earlier: Array<{ subject: string; handler: ReturnType<typeof recorder> }> = [];
    for (let n = 0; n < 5; n++) {
      const handler = recorder(`call-${n}`);
      const subject = inbox.open(handler);
      inbox.forget(subject);
      earlier.push({ subject, handler });
    }
    expect(new Set(earlier.map(({ subject }) => subject)).size).toBe(5);
    const last = recorder('call-last');
    const next = inbox.open(last);
    for (const { subject } of earlier) {
      await reply(subject, answer('call-last'));
      caller.publish('threadline.nobody.listens', '{}', { reply: subject });
    }
    await caller.flush();
    await reply(next, answer('call-last'));
    expect(last.heard).toEqual(['frame:item', 'complete']);
    for (const { handler } of earlier) expect(handler.heard).toEqual([]);
  });

  it('holds as many calls at once as are made, each hearing only its own replies', async () => {
    const handlers = Array.from({ length: 40 }, (_, n) => recorder(`call-${n}`));
    const subjects = handlers.map((handler) => inbox.open(handler));
    for (const [n, subject] of [...subjects.entries()].reverse()) await reply(subject, answer(`call-${n}`));
    for (const handler of handlers) expect(handler.heard).toEqual(['frame:item', 'complete']);
    for (const [n, subject] of subjects.entries()) {
      handlers[n]!.answered = true;
      inbox.forget(subject);
    }
    // Every slot is free again: the next calls take the same subjects.
    const again = handlers.map((_, n) => inbox.open(recorder(`again-${n}`)));
    expect(new Set(again)).toEqual(new Set(subjects));
  });

  it("drops a reply that names another call than the subject's", async () => {
    const handler = recorder('call-2');
    const subject = inbox.open(handler);
    await reply(subject, answer('call-1'));
    await reply(subject, answer('call-2'));
    expect(handler.heard).toEqual(['frame:item', 'complete']);
  });

  it("tells a call that nobody listens on its subject, from the server's status, which names no call", async () => {
    const handler = recorder('call-1');
    const subject = inbox.open(handler);
    caller.publish('threadline.nobody.listens', '{}', { reply: subject });
    await caller.flush();
    await waitUntil(() => handler.heard.length > 0);
    expect(handler.heard).toEqual(['no responders']);
  });
});
