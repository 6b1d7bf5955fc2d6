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

describe('ReplySender, to a caller that reads batches', () => {
  it('sends the start, an answer ready at once and the end of a unary call as one message', async () => {
    const { message, sent } = fakeMessage();
    const replies = new ReplySender(message, 'call-1', true, 1_000_000);
    replies.frame({ kind: 'start', instanceId: 'w-1' });
    await Promise.resolve();
    replies.frame(itemFrames({ text: 'ok' }, 1_000_000)[0]!);
    replies.complete();
    await turn();
    expect(sent).toEqual([
      {
        id: 'call-1',
        responses: [
          { kind: 'start', instanceId: 'w-1' },
          { kind: 'item', value: { text: 'ok' } },
        ],
        isDisposed: true,
      },
    ]);
  });

  it('cuts a turn of many frames into messages of at most maxBytes, in order, the failure on the last', async () => {
    const { message, sent } = fakeMessage();
    const replies = new ReplySender(message, 'call-2', true, 1000);
    for (let n = 0; n < 30; n++) replies.frame(itemFrames({ n, text: 'x'.repeat(30) }, 1000)[0]!);
    replies.fail({ message: 'no', status: 503, code: 'x' });
    await turn();
    const packets = sent as Array<{ responses: Array<{ value: { n: number } }>; err?: unknown; isDisposed?: boolean }>;
    expect(packets.length).toBeGreaterThan(1);
    expect(packets.flatMap((packet) => packet.responses.map((frame) => frame.value.n))).toEqual(
      Array.from({ length: 30 }, (_, n) => n),
    );
    expect(packets.slice(0, -1).every((packet) => packet.err === undefined && packet.isDisposed === undefined)).toBe(
      true,
    );
    expect(packets.at(-1)).toMatchObject({ err: { code: 'x' }, isDisposed: true });
  });

  it('sends an end alone when no frame waits', async () => {
    const { message, sent } = fakeMessage();
    const replies = new ReplySender(message, 'call-3', true, 1000);
    replies.complete();
    await turn();
    expect(sent).toEqual([{ id: 'call-3', isDisposed: true }]);
  });
});

describe('ReplySender, to a caller that reads one frame per message', () => {
  it('sends what is ready in one turn together, the end at once and marked on the last reply, as Nest frames it', async () => {
    const { message, sent } = fakeMessage();
    const replies = new ReplySender(message, 'call-1', false, 1_000_000);
    replies.frame({ kind: 'start', instanceId: 'w-1' });
    await Promise.resolve(); // an endpoint's answer, a few microtasks later
    await Promise.resolve();
    replies.frame({ kind: 'item', value: 42 });
    expect(sent).toEqual([]);
    replies.complete();
    expect(sent).toEqual([
      { id: 'call-1', response: { kind: 'start', instanceId: 'w-1' } },
      { id: 'call-1', response: { kind: 'item', value: 42 }, isDisposed: true },
    ]);
    await turn();
    expect(sent).toHaveLength(2);
  });

  it('sends the frames of a turn at its end when the call goes on', async () => {
    const { message, sent } = fakeMessage();
    const replies = new ReplySender(message, 'call-5', false, 1_000_000);
    replies.frame({ kind: 'start', instanceId: 'w-1' });
    replies.frame({ kind: 'item', value: 1 });
    await Promise.resolve();
    expect(sent).toEqual([]);
    await turn();
    expect(sent).toEqual([
      { id: 'call-5', response: { kind: 'start', instanceId: 'w-1' } },
      { id: 'call-5', response: { kind: 'item', value: 1 } },
    ]);
  });

  it('sends the JSON itemFrames made for an item, large items with their size', async () => {
    const { message, sent } = fakeMessage();
    const replies = new ReplySender(message, 'call-4', false, 1_000_000);
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
    const replies = new ReplySender(message, 'call-2', false, 1_000_000);
    replies.frame({ kind: 'start', instanceId: 'w-1' });
    await turn();
    replies.fail({ message: 'no', status: 503, code: 'x' });
    await turn();
    const ended = new ReplySender(message, 'call-3', false, 1_000_000);
    ended.complete();
    await turn();
    expect(sent.slice(1)).toEqual([
      { id: 'call-2', err: { message: 'no', status: 503, code: 'x' }, isDisposed: true },
      { id: 'call-3', isDisposed: true },
    ]);
  });
});

describe('ReplySender.begin', () => {
  const paced = { kind: 'start', instanceId: 'w-1', credit: 'acks.w-1' } as const;
  const unpaced = { kind: 'start', instanceId: 'w-1' } as const;

  it('sends the start frame without pacing when the first message also ends the call', async () => {
    const { message, sent } = fakeMessage();
    const replies = new ReplySender(message, 'call-1', true, 1_000_000);
    replies.begin(paced, unpaced);
    await Promise.resolve();
    replies.frame(itemFrames({ text: 'ok' }, 1_000_000)[0]!);
    replies.complete();
    await turn();
    expect(sent).toEqual([
      { id: 'call-1', responses: [unpaced, { kind: 'item', value: { text: 'ok' } }], isDisposed: true },
    ]);
  });

  it('offers pacing in the start frame of a call that goes on past its first message', async () => {
    const { message, sent } = fakeMessage();
    const replies = new ReplySender(message, 'call-2', true, 1_000_000);
    replies.begin(paced, unpaced);
    replies.frame({ kind: 'item', value: 1 });
    await turn();
    replies.frame({ kind: 'item', value: 2 });
    replies.complete();
    expect(sent).toEqual([
      { id: 'call-2', responses: [paced, { kind: 'item', value: 1 }] },
      { id: 'call-2', responses: [{ kind: 'item', value: 2 }], isDisposed: true },
    ]);
  });

  it('to a caller that reads a frame a message, sends the unpaced start first when the call ends at once', () => {
    const { message, sent } = fakeMessage();
    const replies = new ReplySender(message, 'call-3', false, 1_000_000);
    replies.begin(paced, unpaced);
    replies.frame({ kind: 'item', value: 42 });
    replies.complete();
    expect(sent).toEqual([
      { id: 'call-3', response: unpaced },
      { id: 'call-3', response: { kind: 'item', value: 42 }, isDisposed: true },
    ]);
  });
});

describe('requestPacket', () => {
  it('is the JSON Nest sends for a request, with the fields Threadline adds', () => {
    expect(JSON.parse(requestPacket('a.b.c', '{"x":1}', 'id-1'))).toEqual({
      pattern: 'a.b.c',
      data: { x: 1 },
      id: 'id-1',
    });
    expect(JSON.parse(requestPacket('a.b.c', 'null', 'id-2', ',"deadline":5,"batch":true'))).toEqual({
      pattern: 'a.b.c',
      data: null,
      id: 'id-2',
      deadline: 5,
      batch: true,
    });
  });
});
