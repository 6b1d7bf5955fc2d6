import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { Piscina } from 'piscina';
import { CapacityError, RATE_LIMIT_CODE } from '../protocol/capacity.error.js';
import { Slots } from './slots.js';
import { encodeTexts, unpackInSteps } from './tokenizer.worker.mjs';
import type { EncodedTexts, EncodeTask, PackedTexts } from './tokenizer.worker.mjs';

/**
 * A prompt of less work than this is tokenized on the event loop, where it takes less than a thread
 * hop costs, and a few milliseconds at worst: some 16K ASCII characters, or 1.8K CJK ones.
 */
export const INLINE_MAX_WORK = 16_384;

/** A measure of the worst-case time to tokenize `texts`: a character of several UTF-8 bytes costs more. */
export function tokenizingWork(texts: readonly string[]): number {
  return texts.reduce((sum, text) => sum + text.length + 4 * (Buffer.byteLength(text, 'utf8') - text.length), 0);
}

/**
 * How much less CPU a tokenizer thread gets than the event loop when both want it (Linux's nice, for
 * the thread alone): on a machine of few cores a long prompt's tokenizing would otherwise take half of
 * the event loop's core, and every other request would wait that much longer.
 */
const THREAD_NICE_INCREMENT = 10;

/** Token ids a turn of the event loop copies out of what a thread sent back (well under a millisecond). */
const IDS_PER_TURN = 32_768;

/** Long prompts that may wait for a thread, per thread; beyond that a prompt is refused with a 429. */
const WAITING_PER_THREAD = 16;

/**
 * Tokenizes prompts without holding up the event loop: long prompts in worker threads (piscina), short
 * ones inline. With no threads, every prompt is tokenized inline (still in linear time).
 */
export class TokenizerPool {
  private readonly pool: Piscina<EncodeTask, PackedTexts> | undefined;
  /** A thread each. Piscina would end a thread whose task is aborted, so the waiting is done here. */
  private readonly threads: Slots;
  private readonly maxPending: number;

  constructor(threads: number) {
    this.threads = new Slots(threads);
    this.maxPending = threads * (1 + WAITING_PER_THREAD);
    if (threads === 0) return;
    // Threads start with the first long prompt, then stay: each holds the vocabulary, loaded once.
    this.pool = new Piscina({
      filename: new URL('./tokenizer.worker.mjs', import.meta.url).href,
      minThreads: 0,
      maxThreads: threads,
      idleTimeout: Infinity,
      // The thread runs plain JavaScript: none of the parent's loaders or flags.
      execArgv: [],
      niceIncrement: THREAD_NICE_INCREMENT,
    });
  }

  /**
   * The token ids of each text, in order, and their count; only the count past `keepUpTo` tokens.
   * With a template, the prompt's ids joined, and its KV block ids when it is tokenized in a thread.
   * When `signal` aborts, a prompt waiting for a thread leaves the line; one being tokenized is
   * finished (ending the thread would lose its vocabulary), then dropped.
   */
  async encodeTexts(task: EncodeTask, signal?: AbortSignal): Promise<EncodedTexts> {
    if (this.pool === undefined || tokenizingWork(task.texts) < INLINE_MAX_WORK) {
      // No block ids inline: for a short prompt the router and the worker compute them for less than
      // sending them costs, and its requests stay as small as they were.
      return encodeTexts({ ...task, blockSize: undefined });
    }
    if (this.threads.demand >= this.maxPending) {
      throw new CapacityError('Too many long prompts are being tokenized; retry later.', 429, RATE_LIMIT_CODE);
    }
    await this.threads.acquire(signal);
    let packed: PackedTexts;
    try {
      // A turn of the event loop before handing the texts over: that costs a long prompt's size on the
      // event loop, so other requests get in first.
      await yieldToLoop();
      packed = await this.pool.run(task);
    } finally {
      this.threads.release();
    }
    signal?.throwIfAborted();
    return unpackInTurns(packed);
  }

  async close(): Promise<void> {
    await this.pool?.destroy();
  }
}

/** What a thread sent back, copied out a slice a turn of the event loop, so that other requests get in. */
async function unpackInTurns(packed: PackedTexts): Promise<EncodedTexts> {
  const steps = unpackInSteps(packed, IDS_PER_TURN);
  for (;;) {
    await yieldToLoop();
    const step = steps.next();
    if (step.done === true) return step.value;
  }
}
