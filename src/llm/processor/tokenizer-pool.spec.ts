import { readdirSync, readFileSync } from 'node:fs';
import { valueSymbol } from 'piscina';
import { afterEach, describe, expect, it } from 'vitest';
import { CapacityError } from '../protocol/capacity.error.js';
import { blockHashes, packedBlockHashes, unpackBlockHashes } from '../kv/block-hash.mjs';
import { encodeBounded } from './bounded-bpe.mjs';
import { INLINE_MAX_WORK, tokenizingWork, TokenizerPool } from './tokenizer-pool.js';
import encodeTextsPacked, { encodeTexts, TEXT, unpackInSteps } from './tokenizer.worker.mjs';
import type { EncodeTask, PackedTexts } from './tokenizer.worker.mjs';

const CJK = '我们的服务需要在任何输入下保持响应能力并且快速拒绝不合理的请求这是一个长句子没有标点符号';
const PROSE = 'The quick brown fox jumps over the lazy dog, then writes an essay about request ids. ';

function prose(chars: number): string {
  return PROSE.repeat(Math.ceil(chars / PROSE.length)).slice(0, chars);
}

/** A task that keeps every id. */
function all(texts: string[]): { texts: string[]; keepUpTo: number } {
  return { texts, keepUpTo: Number.POSITIVE_INFINITY };
}

function inline(texts: string[]): { count: number; ids: number[][] } {
  const ids = texts.map(encodeBounded);
  return { count: ids.flat().length, ids };
}

describe('tokenizingWork', () => {
  it('counts an ASCII character as one, and a character of several UTF-8 bytes as more: its BPE costs more', () => {
    expect(tokenizingWork(['abc', 'de'])).toBe(5);
    expect(tokenizingWork(['é'])).toBe(5);
    expect(tokenizingWork(['语'])).toBe(9);
  });
});

describe('unpackInSteps', () => {
  /** What a thread sends back, as the pool receives it (outside a thread, `move` leaves it wrapped). */
  function packed(task: EncodeTask): PackedTexts {
    const result = encodeTextsPacked(task) as PackedTexts | Record<symbol, PackedTexts>;
    return typeof result === 'object' && !(result instanceof Int32Array) ? result[valueSymbol]! : result;
  }

  /** Every step of `steps`, then what it returned. */
  function drain<T>(steps: Generator<void, T, void>): { steps: number; value: T } {
    let count = 0;
    for (;;) {
      const step = steps.next();
      if (step.done === true) return { steps: count, value: step.value };
      count++;
    }
  }

  it("copies a thread's answer out a slice a step, to what encodeTexts gives, with or without a template", () => {
    const texts = [prose(5000), CJK.repeat(20)];
    const plain = all(texts);
    const unpacked = drain(unpackInSteps(packed(plain), 100));
    expect(unpacked.value).toEqual(encodeTexts(plain));
    expect(unpacked.steps).toBeGreaterThan(plain.texts.length);
    const prompt = { ...plain, template: [200003, TEXT, 200004, TEXT], blockSize: 16 };
    const ids = packed(prompt);
    const expected = encodeTexts(prompt);
    const inSteps = drain(unpackInSteps(ids, 100));
    expect(inSteps.value).toEqual(expected);
    expect(inSteps.steps).toBe(Math.ceil(expected.promptIds!.length / 100) - 1);
    expect(drain(unpackInSteps(ids, Number.POSITIVE_INFINITY))).toEqual({ steps: 0, value: expected });
    expect(drain(unpackInSteps(7, 100))).toEqual({ steps: 0, value: { count: 7 } });
  });
});

describe('TokenizerPool', () => {
  const pools: TokenizerPool[] = [];
  function pool(threads: number): TokenizerPool {
    const created = new TokenizerPool(threads);
    pools.push(created);
    return created;
  }
  afterEach(async () => {
    await Promise.all(pools.splice(0).map((p) => p.close()));
  });

  it('computes in a thread, with a template, the prompt ids joined and the same block ids as kv/block-hash', async () => {
    const texts = [prose(3 * INLINE_MAX_WORK), CJK.repeat(100), 'assistant\n'];
    const template = [200003, TEXT, 200004, TEXT, 200003, TEXT];
    const textIds = texts.map(encodeBounded);
    const promptIds = [200003, ...textIds[0]!, 200004, ...textIds[1]!, 200003, ...textIds[2]!];
    const encoded = await pool(1).encodeTexts({ ...all(texts), template, blockSize: 16 });
    expect(encoded.count).toBe(textIds.flat().length);
    expect(encoded.promptIds).toEqual(promptIds);
    expect(encoded.blockHashes).toBe(packedBlockHashes(promptIds, 16));
    expect(unpackBlockHashes(encoded.blockHashes!)).toEqual(blockHashes(promptIds, 16));
    expect(blockHashes(promptIds, 16)).toHaveLength(Math.floor(promptIds.length / 16));
  });

  it('joins a short prompt inline without block ids: the router and the worker compute those', async () => {
    const encoded = await pool(1).encodeTexts({ ...all(['hello there']), template: [200003, TEXT], blockSize: 1 });
    expect(encoded).toEqual({ count: 2, promptIds: [200003, ...encodeBounded('hello there')] });
  });

  it('gives the same ids in a thread as inline, text by text, and their count', async () => {
    const texts = [prose(3 * INLINE_MAX_WORK), 'a'.repeat(10_000), CJK.repeat(100), ''];
    expect(await pool(1).encodeTexts(all(texts))).toEqual(inline(texts));
  });

  it('tokenizes everything inline when it has no threads', async () => {
    const texts = [prose(2 * INLINE_MAX_WORK), CJK];
    expect(await pool(0).encodeTexts(all(texts))).toEqual(inline(texts));
  });

  it('sends back only the count of a prompt with more tokens than asked for, in a thread and inline', async () => {
    for (const [tokenizer, text] of [
      [pool(1), prose(3 * INLINE_MAX_WORK)],
      [pool(1), 'hello world'],
      [pool(0), prose(3 * INLINE_MAX_WORK)],
    ] as const) {
      const { count } = inline([text]);
      expect(await tokenizer.encodeTexts({ texts: [text], keepUpTo: count - 1 })).toEqual({ count });
      expect(await tokenizer.encodeTexts({ texts: [text], keepUpTo: count })).toEqual(inline([text]));
    }
  });

  it('keeps the event loop turning while a long prompt is tokenized in a thread', async () => {
    const tokenizer = pool(1);
    await tokenizer.encodeTexts(all([prose(INLINE_MAX_WORK)])); // the thread has loaded the vocabulary
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 5);
    let settled = false;
    const work = tokenizer
      .encodeTexts(all([Array.from({ length: 150_000 }, (_, i) => CJK[(i * 7919) % CJK.length]).join('')]))
      .finally(() => (settled = true));
    // The loop turns (timers fire) before the long prompt is done.
    while (ticks < 3 && !settled) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(settled).toBe(false);
    expect((await work).count).toBeGreaterThan(0);
    clearInterval(ticker);
  });

  it.runIf(process.platform === 'linux')(
    'tokenizes at a lower priority than the event loop: its thread has a higher nice value',
    async () => {
      const nice = (tid: string) => {
        const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
      };
      const before = new Set(readdirSync('/proc/self/task'));
      await pool(1).encodeTexts(all([prose(INLINE_MAX_WORK)]));
      const started = readdirSync('/proc/self/task').filter((tid) => !before.has(tid));
      expect(nice(String(process.pid))).toBe(0);
      expect(started.some((tid) => nice(tid) > 0)).toBe(true);
    },
  );

  it('refuses a long prompt with a 429 when too many already wait for its threads', async () => {
    const tokenizer = pool(1);
    const task = all([prose(INLINE_MAX_WORK + 1)]);
    const outcomes = await Promise.allSettled(Array.from({ length: 40 }, () => tokenizer.encodeTexts(task)));
    const refused = outcomes.flatMap((outcome) => (outcome.status === 'rejected' ? [outcome.reason as unknown] : []));
    expect(refused.length).toBeGreaterThan(0);
    expect(outcomes.length - refused.length).toBeGreaterThan(0);
    for (const error of refused) expect(error).toMatchObject({ constructor: CapacityError, status: 429 });
    // Short prompts never wait for a thread.
    await expect(tokenizer.encodeTexts(all(['hello']))).resolves.toEqual(inline(['hello']));
  });

  it('drops a long prompt still waiting for a thread when its signal aborts', async () => {
    const tokenizer = pool(1);
    const busy = tokenizer.encodeTexts(all([prose(50 * INLINE_MAX_WORK)]));
    const controller = new AbortController();
    const waiting = tokenizer.encodeTexts(all([prose(INLINE_MAX_WORK + 2)]), controller.signal);
    controller.abort(new Error('client gone'));
    await expect(waiting).rejects.toThrow('client gone');
    await busy;
  });

  it('finishes a long prompt being tokenized when its signal aborts, then drops it; the thread serves the next', async () => {
    const tokenizer = pool(1);
    const controller = new AbortController();
    const running = tokenizer.encodeTexts(all([prose(20 * INLINE_MAX_WORK)]), controller.signal);
    await new Promise((resolve) => setTimeout(resolve, 20));
    controller.abort(new Error('client gone'));
    await expect(running).rejects.toThrow('client gone');
    const text = prose(INLINE_MAX_WORK + 3);
    await expect(tokenizer.encodeTexts(all([text]))).resolves.toEqual(inline([text]));
  });
});
