import { describe, expect, it } from 'vitest';
import { ByteBudget } from './byte-budget.js';
import { ItemAssembler, itemFrames } from './item-parts.js';
import { FRAME_JSON } from './nats-subjects.js';
import type { WireFrame } from './nats-subjects.js';

type Part = Extract<WireFrame, { kind: 'part' }>;

describe('stream items larger than one NATS message', () => {
  it('sends an item that fits as one item frame, which carries its JSON', () => {
    expect(itemFrames({ tokenIds: [1, 2, 3] }, 1024)).toEqual([
      { kind: 'item', value: { tokenIds: [1, 2, 3] }, [FRAME_JSON]: '{"kind":"item","value":{"tokenIds":[1,2,3]}}' },
    ]);
    expect(itemFrames(undefined, 1024)).toEqual([{ kind: 'item', value: undefined, [FRAME_JSON]: '{"kind":"item"}' }]);
  });

  it('splits a larger item into parts no larger than the limit and puts it back together', () => {
    const item = { type: 'text', choice: 0, text: 'héllo "wörld" \u0001 😀 '.repeat(500) };
    const frames = itemFrames(item, 1024) as Part[];
    expect(frames.length).toBeGreaterThan(5);
    for (const frame of frames) expect(JSON.stringify(frame).length).toBeLessThanOrEqual(1024 + 64);
    const budget = new ByteBudget(1 << 20);
    const assembler = new ItemAssembler(1 << 20, budget);
    const results = frames.map((frame) => assembler.add(frame));
    expect(results.at(-1)).toEqual({ value: item });
    expect(results.slice(0, -1).every((result) => result === undefined)).toBe(true);
    expect(budget.heldBytes).toBe(0);
  });

  it('fails an item over the hard cap with message_too_large and holds nothing after', () => {
    const frames = itemFrames({ text: 'x'.repeat(10_000) }, 1024) as Part[];
    const budget = new ByteBudget(1 << 20);
    const assembler = new ItemAssembler(4096, budget);
    expect(() => frames.forEach((frame) => assembler.add(frame))).toThrow(
      expect.objectContaining({ code: 'message_too_large' }),
    );
    expect(budget.heldBytes).toBe(0);
  });

  it('refuses parts beyond the budget shared across calls with a retryable 503', () => {
    const frames = itemFrames({ text: 'x'.repeat(10_000) }, 1024) as Part[];
    const assembler = new ItemAssembler(1 << 20, new ByteBudget(2048));
    expect(() => frames.forEach((frame) => assembler.add(frame))).toThrow(
      expect.objectContaining({ status: 503, code: 'large_items_at_capacity' }),
    );
  });
});
