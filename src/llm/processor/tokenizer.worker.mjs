// The tokenizer pool's threads (piscina) run this file's default export; short prompts are encoded
// inline with `encodeTexts`. Plain JavaScript, so that it loads as it is from dist/ and from src/ alike.
import { move } from 'piscina';
import { BLOCK_HASH_CHARS, packedBlockHashes } from '../kv/block-hash.mjs';
import { encodeBounded } from './bounded-bpe.mjs';

/** In a task's `template`: the next text goes here (any other entry is a special token's id). */
export const TEXT = -1;

/**
 * The token ids of each text of a prompt, and their count. Past `keepUpTo` tokens in all, only the
 * count: such a prompt is refused, and its ids would cost the event loop to receive. With a
 * `template`, the prompt's ids instead (`promptIds`: its special tokens and its texts' ids, joined), and
 * with a `blockSize` too, its KV block ids (`blockHashes`, packed), so that nobody computes them again.
 */
export function encodeTexts({ texts, keepUpTo, template, blockSize }) {
  const ids = texts.map(encodeBounded);
  const count = ids.reduce((sum, textIds) => sum + textIds.length, 0);
  if (count > keepUpTo) return { count };
  if (template === undefined) return { count, ids };
  const promptIds = joinIds(template, ids, []);
  return blockSize === undefined
    ? { count, promptIds }
    : { count, promptIds, blockHashes: packedBlockHashes(promptIds, blockSize) };
}

/** The ids of `template` into `into` (an array, or an Int32Array of the right length). */
function joinIds(template, ids, into) {
  let at = 0;
  let text = 0;
  for (const entry of template) {
    if (entry !== TEXT) into[at++] = entry;
    else for (const id of ids[text++]) into[at++] = id;
  }
  return into;
}

/**
 * `encodeTexts` in a thread. The ids come back packed in one Int32Array that is moved, not copied:
 * receiving a JS array of numbers costs the event loop several times more. Layout, without a template:
 * the number of texts, the length of each, then their ids. With a template: -1, the count, the number
 * of the prompt's ids, the length of the block ids (-1: none asked for), the prompt's ids, then the block ids' characters,
 * a byte each (they are ASCII). Only the count when there is no need for the ids.
 */
export default function encodeTextsPacked(task) {
  if (task.template !== undefined) return encodePromptPacked(task);
  const { count, ids } = encodeTexts(task);
  if (ids === undefined) return count;
  const packed = new Int32Array(1 + ids.length + count);
  packed[0] = ids.length;
  let at = 1 + ids.length;
  ids.forEach((textIds, index) => {
    packed[1 + index] = textIds.length;
    packed.set(textIds, at);
    at += textIds.length;
  });
  return move(packed);
}

const HEADER = 4;

function encodePromptPacked({ texts, keepUpTo, template, blockSize }) {
  const ids = texts.map(encodeBounded);
  const count = ids.reduce((sum, textIds) => sum + textIds.length, 0);
  if (count > keepUpTo) return count;
  const length = count + template.length - texts.length;
  const blocks = blockSize === undefined ? 0 : Math.floor(length / blockSize);
  const hashChars = blocks * BLOCK_HASH_CHARS;
  const packed = new Int32Array(HEADER + length + Math.ceil(hashChars / 4));
  packed.set([-1, count, length, blockSize === undefined ? -1 : hashChars]);
  const promptIds = joinIds(template, ids, packed.subarray(HEADER, HEADER + length));
  if (blocks > 0) {
    const hashes = packedBlockHashes(promptIds, blockSize);
    const bytes = new Uint8Array(packed.buffer, 4 * (HEADER + length), hashChars);
    for (let i = 0; i < hashChars; i++) bytes[i] = hashes.charCodeAt(i);
  }
  return move(packed);
}

/**
 * What `encodeTextsPacked` returned, as `encodeTexts` returns it, a step at a time: each step copies at
 * most `idsPerStep` ids into JS arrays, and the generator returns the result. A long prompt's ids take
 * milliseconds to copy; the caller takes a turn of the event loop between steps, so that other requests
 * get in.
 */
export function* unpackInSteps(result, idsPerStep) {
  if (typeof result === 'number') return { count: result };
  if (result[0] === -1) return yield* unpackPromptInSteps(result, idsPerStep);
  const texts = result[0];
  const ids = [];
  let at = 1 + texts;
  for (let index = 0; index < texts; index++) {
    const textIds = new Array(result[1 + index]);
    yield* copyInSteps(result, at, textIds, 0, textIds.length, idsPerStep);
    ids.push(textIds);
    at += textIds.length;
  }
  return { count: at - 1 - texts, ids };
}

function* unpackPromptInSteps(result, idsPerStep) {
  const [, count, length, hashChars] = result;
  // A preallocated array filled by index: the fastest way to a JS array here (not Array.from, nor push).
  const promptIds = new Array(length);
  yield* copyInSteps(result, HEADER, promptIds, 0, length, idsPerStep);
  if (hashChars < 0) return { count, promptIds };
  const blockHashes = Buffer.from(result.buffer, result.byteOffset + 4 * (HEADER + length), hashChars).toString(
    'latin1',
  );
  return { count, promptIds, blockHashes };
}

/** Copies `length` ids from `source[from…]` to `target[to…]`, yielding after every `perStep`. */
function* copyInSteps(source, from, target, to, length, perStep) {
  for (let done = 0; done < length;) {
    const end = Math.min(length, done + perStep);
    for (let i = done; i < end; i++) target[to + i] = source[from + i];
    done = end;
    if (done < length) yield;
  }
}
