import { describe, expect, it } from 'vitest';
import type { KvEvent } from '../../kv/kv-events.js';
import type { GenerateOutput, GenerateRequest, WorkerOutput } from '../../protocol/pipeline.types.js';
import { MockerEngine } from './mocker.engine.js';

/** 200 prompt tokens at 1 ms each: a prefill of 200 ms, in blocks of 4 tokens. */
const CONFIG = {
  prefillUsPerToken: 1000,
  decodeMsPerToken: 0,
  maxRunning: 8,
  maxWaiting: 8,
  blockSize: 4,
  kvBlocks: 256,
};
const PROMPT = Array.from({ length: 200 }, (_, i) => 5000 + i);
const PREFILL_MS = 200;

interface Timed<T> {
  result: T;
  /** When it resolved, in ms since the start of the test. */
  at: number;
}

async function timed<T>(start: number, work: Promise<T>): Promise<Timed<T>> {
  const result = await work;
  return { result, at: performance.now() - start };
}

async function firstOutput(engine: MockerEngine, request: GenerateRequest): Promise<GenerateOutput> {
  for await (const item of engine.generate(request, new AbortController().signal) as AsyncIterable<WorkerOutput>)
    if ('tokenIds' in item) return item;
  throw new Error('no token');
}

/**
 * A prompt's blocks count as cached (`cachedTokens`, a shorter prefill) only once some prefill of them
 * has completed: identical prompts arriving while the first is still being prefilled prefill themselves
 * rather than report, at once, a hit on blocks that do not exist yet.
 */
describe('the mocker prefix cache and prompts prefilled at the same time', () => {
  it('Prefill worker (prefill()): three identical prompts at once each take the prefill time', async () => {
    const engine = new MockerEngine(CONFIG, 'prefill-0');
    const start = performance.now();
    const results = await Promise.all(
      [0, 1, 2].map(() => timed(start, engine.prefill(PROMPT, new AbortController().signal))),
    );
    for (const { result, at } of results) {
      expect(result.cachedTokens).toBe(0);
      expect(at).toBeGreaterThanOrEqual(PREFILL_MS - 5);
    }
    // Once one has completed, the blocks are cached: a fourth is a hit, and fast.
    const later = await timed(performance.now(), engine.prefill(PROMPT, new AbortController().signal));
    expect(later.result.cachedTokens).toBe(PROMPT.length);
    expect(later.at).toBeLessThan(PREFILL_MS / 2);
  });

  it('Worker (generate()): identical prompts at once report no cached tokens; the same prompt after, all', async () => {
    const engine = new MockerEngine(CONFIG, 'worker-0');
    const request: GenerateRequest = { tokenIds: PROMPT, maxTokens: 1, temperature: 0, seed: 1, original: {} };
    const start = performance.now();
    const results = await Promise.all([0, 1, 2].map(() => timed(start, firstOutput(engine, request))));
    for (const { result, at } of results) {
      expect(result.cachedTokens).toBe(0);
      expect(at).toBeGreaterThanOrEqual(PREFILL_MS - 5);
    }
    expect((await firstOutput(engine, request)).cachedTokens).toBe(PROMPT.length);
  });

  it('a prefill cancelled mid-way caches nothing, and reports nothing stored', async () => {
    const events: KvEvent[] = [];
    const engine = new MockerEngine(CONFIG, 'worker-1', (event) => events.push(event));
    const abort = new AbortController();
    const cancelled = engine.prefill(PROMPT, abort.signal);
    setTimeout(() => abort.abort(), PREFILL_MS / 4);
    await expect(cancelled).rejects.toThrow();
    expect(events.flatMap((event) => event.stored)).toEqual([]);
    expect(engine.uncachedTokens(PROMPT)).toBe(PROMPT.length);
  });
});
