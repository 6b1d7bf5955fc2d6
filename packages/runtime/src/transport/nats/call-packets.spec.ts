import type { Msg } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { ReplySender, requestPacket } from './call-packets.js';
import { itemFrames } from './item-parts.js';

/** A received message that records what is sent back. */
function fakeMessage(): { message: Msg; sent: unknown[] } {
  const sent: unknown[] = [];
  const message = { respond: (data: string) => sent.push(JSON.parse(data)) } as unknown as Msg;
  return { message, sent };
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('ReplySender', () => {
  it('sends what is ready in one turn together, the end marked on the last reply, as Nest frames it', async () => {
    const { message, sent } = fakeMessage();
    const replies = new ReplySender(message, 'call-1');
    replies.frame({ kind: 'start', instanceId: 'w-1' });
    await Promise.resolve(); // an endpoint's answer, a few microtasks later
    await Promise.resolve();
    replies.frame({ kind: 'item', value: 42 });
    replies.complete();
    expect(sent).toEqual([]);
    await turn();
    expect(sent).toEqual([
      { id: 'call-1', response: { kind: 'start', instanceId: 'w-1' } },
      { id: 'call-1', response: { kind: 'item', value: 42 }, isDisposed: true },
    ]);
  });

  it('sends the JSON itemFrames made for an item, large items with their size', async () => {
    const { message, sent } = fakeMessage();
    const replies = new ReplySender(message, 'call-4');
    const small = { text: 'ok', n: [1, 2] };
    const large = { text: 'y'.repeat(5000) };
    for (const frame of [...itemFrames(small, 1_000_000), ...itemFrames(large, 1_000_000)]) replies.frame(frame);
    replies.complete();
    await turn();
    expect(sent).toEqual([
      { id: 'call-4', response: { kind: 'item', value: small } },
      { id: 'call-4', response: { kind: 'item', value: large, size: JSON.stringify(large).length }, isDisposed: true },
    ]);
  });

  it('sends a failure as the last reply, and an end alone when nothing else waits', async () => {
    const { message, sent } = fakeMessage();
    const replies = new ReplySender(message, 'call-2');
    replies.frame({ kind: 'start', instanceId: 'w-1' });
    await turn();
    replies.fail({ message: 'no', status: 503, code: 'x' });
    await turn();
    const ended = new ReplySender(message, 'call-3');
    ended.complete();
    await turn();
    expect(sent.slice(1)).toEqual([
      { id: 'call-2', err: { message: 'no', status: 503, code: 'x' }, isDisposed: true },
      { id: 'call-3', isDisposed: true },
    ]);
  });
});

describe('requestPacket', () => {
  it('is the JSON Nest sends for a request', () => {
    expect(JSON.parse(requestPacket('a.b.c', '{"x":1}', 'id-1'))).toEqual({
      pattern: 'a.b.c',
      data: { x: 1 },
      id: 'id-1',
    });
  });
});
