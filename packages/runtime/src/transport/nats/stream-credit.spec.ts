import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CreditReader, CreditWindow, formatCredit, parseCredit, StuckReaderError } from './stream-credit.js';

describe('the credit header', () => {
  it('reads back what it writes, and takes anything else for no offer', () => {
    expect(parseCredit(formatCredit({ frames: 128, bytes: 4096 }))).toEqual({ frames: 128, bytes: 4096 });
    for (const header of [undefined, 12, '', '128', '1 4096', '128 0', 'x y', '2.5 10', '128 4096 extra'])
      expect(parseCredit(header)).toBeUndefined();
  });
});

describe('CreditWindow', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('lets out at most `frames` frames beyond the acknowledged ones', () => {
    const window = new CreditWindow({ frames: 4, bytes: 1_000_000 }, 1000);
    for (let n = 0; n < 4; n++) {
      expect(window.hasRoom()).toBe(true);
      window.sent(0);
    }
    expect(window.hasRoom()).toBe(false);
    window.acknowledge(1);
    expect(window.hasRoom()).toBe(true);
    window.sent(0);
    expect(window.outstanding).toBe(4);
    // Cumulative: an older acknowledgement arriving late changes nothing; one beyond what was sent is capped.
    window.acknowledge(1);
    expect(window.outstanding).toBe(4);
    window.acknowledge(99);
    expect(window.outstanding).toBe(0);
  });

  it('stops once the bytes out reach the limit, the frame that crosses it included', () => {
    const window = new CreditWindow({ frames: 100, bytes: 10_000 }, 1000);
    window.sent(50_000); // larger than the limit, alone
    expect(window.hasRoom()).toBe(false);
    window.acknowledge(1);
    window.sent(6000);
    expect(window.hasRoom()).toBe(true);
    window.sent(6000);
    expect(window.hasRoom()).toBe(false);
    window.acknowledge(2);
    expect(window.hasRoom()).toBe(true);
  });

  it('frees the bytes of a sized frame when that frame is read, not when frames before it are', () => {
    const window = new CreditWindow({ frames: 100, bytes: 10_000 }, 1000);
    window.sent(0);
    window.sent(6000);
    window.sent(0);
    window.sent(6000);
    expect(window.hasRoom()).toBe(false);
    window.acknowledge(1);
    expect(window.hasRoom()).toBe(false);
    window.acknowledge(3);
    expect(window.hasRoom()).toBe(true);
    window.sent(6000);
    expect(window.hasRoom()).toBe(false);
    window.acknowledge(5);
    expect(window.outstanding).toBe(0);
    expect(window.hasRoom()).toBe(true);
  });

  it('wakes a wait when an acknowledgement makes room, not before', async () => {
    const window = new CreditWindow({ frames: 2, bytes: 1_000_000 }, 1000);
    window.sent(0);
    window.sent(0);
    let woken = false;
    const wait = window.room(new AbortController().signal).then(() => (woken = true));
    await vi.advanceTimersByTimeAsync(500);
    expect(woken).toBe(false);
    window.acknowledge(1);
    await wait;
    expect(woken).toBe(true);
  });

  it('fails a wait that hears nothing new for the stall time', async () => {
    const window = new CreditWindow({ frames: 3, bytes: 1_000_000 }, 1000);
    for (let n = 0; n < 3; n++) window.sent(0);
    const outcome = window.room(new AbortController().signal).then(
      () => 'room',
      (error: unknown) => error,
    );
    await vi.advanceTimersByTimeAsync(900);
    window.acknowledge(0); // nothing read since: no progress, the stall time runs on
    await vi.advanceTimersByTimeAsync(50);
    expect(await Promise.race([outcome, Promise.resolve('waiting')])).toBe('waiting');
    await vi.advanceTimersByTimeAsync(100);
    expect(await outcome).toBeInstanceOf(StuckReaderError);
  });

  it('keeps waiting while acknowledgements show progress that is not yet room', async () => {
    const window = new CreditWindow({ frames: 100, bytes: 1000 }, 1000);
    for (let n = 0; n < 5; n++) window.sent(0);
    window.sent(1000);
    const outcome = window.room(new AbortController().signal).then(
      () => 'room',
      (error: unknown) => error,
    );
    // Each frame of no bytes acknowledged is progress without room: the stall time starts again.
    for (let read = 1; read <= 5; read++) {
      await vi.advanceTimersByTimeAsync(800);
      window.acknowledge(read);
    }
    expect(await Promise.race([outcome, Promise.resolve('waiting')])).toBe('waiting');
    window.acknowledge(6);
    expect(await outcome).toBe('room');
  });

  it('stops waiting when the call is cancelled', async () => {
    const window = new CreditWindow({ frames: 2, bytes: 1000 }, 60_000);
    window.sent(0);
    window.sent(0);
    const controller = new AbortController();
    const wait = window.room(controller.signal);
    controller.abort(new Error('cancelled'));
    await expect(wait).rejects.toThrow('cancelled');
  });
});

describe('CreditReader', () => {
  it('acknowledges nothing while less than half the window has arrived unacknowledged', () => {
    const acks: number[] = [];
    const reader = new CreditReader(
      { frames: 16, bytes: 1_000_000 },
      (read) => acks.push(read),
      250,
      () => 0,
    );
    for (let n = 0; n < 7; n++) {
      reader.received(1, 0);
      reader.consumed(1, 0);
    }
    expect(acks).toEqual([]);
  });

  it('acknowledges each quarter window read once half a window is out, cumulatively', () => {
    const acks: number[] = [];
    const reader = new CreditReader(
      { frames: 16, bytes: 1_000_000 },
      (read) => acks.push(read),
      250,
      () => 0,
    );
    reader.received(16, 0);
    for (let n = 0; n < 10; n++) reader.consumed(1, 0);
    expect(acks).toEqual([4, 8]);
  });

  it('counts bytes alike, and acknowledges what a slow reader read after the flush time', () => {
    let now = 0;
    const acks: number[] = [];
    const reader = new CreditReader(
      { frames: 100, bytes: 1000 },
      (read) => acks.push(read),
      250,
      () => now,
    );
    reader.received(60, 600);
    reader.consumed(3, 300);
    expect(acks).toEqual([3]);
    reader.consumed(1, 0);
    now = 100;
    reader.consumed(1, 0);
    expect(acks).toEqual([3]);
    now = 300;
    reader.consumed(1, 0);
    expect(acks).toEqual([3, 6]);
  });

  it('acknowledges a callee that waits on a full window once its reader reads, whatever the thresholds', () => {
    const acks: number[] = [];
    const limits = { frames: 8, bytes: 1000 };
    const window = new CreditWindow(limits, 60_000);
    const reader = new CreditReader(
      limits,
      (read) => acks.push(read),
      60_000,
      () => 0,
    );
    // One large frame: the callee stops after it; the reader reads it and must say so.
    window.sent(5000);
    reader.received(1, 5000);
    expect(window.hasRoom()).toBe(false);
    reader.consumed(1, 5000);
    window.acknowledge(acks.at(-1) ?? 0);
    expect(window.hasRoom()).toBe(true);
    // A full window of small frames, read to the end.
    for (let n = 0; n < 8; n++) {
      window.sent(0);
      reader.received(1, 0);
    }
    expect(window.hasRoom()).toBe(false);
    for (let n = 0; n < 8; n++) reader.consumed(1, 0);
    window.acknowledge(acks.at(-1)!);
    expect(window.hasRoom()).toBe(true);
    window.close();
  });
});
