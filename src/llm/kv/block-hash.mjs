// The KV block ids of a prompt, in one place for the event loop (router, mocker) and the tokenizer
// threads alike. Plain JavaScript, so that a thread loads it as it is from dist/ and from src/.
import { hash } from 'node:crypto';
import { setImmediate as yieldToLoop } from 'node:timers/promises';

/** The characters of one block id. */
export const BLOCK_HASH_CHARS = 22;

/** Where a block's token ids start in the hashing buffer: 4-aligned, just after the previous id. */
const IDS_AT = 24;

/**
 * Calls `onHash` with the id of each full block of `tokenIds`, in order: the block's tokens (as
 * 32-bit little-endian integers), chained to the previous block's id (its ASCII characters, before
 * them), hashed with SHA-256, the first 22 characters of its base64url form. One buffer, reused.
 */
function forEachBlockHash(tokenIds, blockSize, onHash) {
  const bytes = new Uint8Array(IDS_AT + 4 * blockSize);
  const block = new Uint32Array(bytes.buffer, IDS_AT, blockSize);
  let previous = '';
  for (let start = 0; start + blockSize <= tokenIds.length; start += blockSize) {
    for (let i = 0; i < blockSize; i++) block[i] = tokenIds[start + i];
    const from = IDS_AT - previous.length;
    for (let i = 0; i < previous.length; i++) bytes[from + i] = previous.charCodeAt(i);
    previous = hash('sha256', bytes.subarray(from), 'base64url').slice(0, BLOCK_HASH_CHARS);
    onHash(previous);
  }
}

/**
 * The ids of a prompt's KV blocks: one per full block of `blockSize` tokens, each a hash of its tokens
 * chained to the previous block's id, so equal ids mean equal prefixes (as vLLM's prefix cache and
 * Dynamo's KV router identify blocks). A trailing partial block has no id: it is never shared.
 */
export function blockHashes(tokenIds, blockSize) {
  const hashes = [];
  forEachBlockHash(tokenIds, blockSize, (id) => hashes.push(id));
  return hashes;
}

/** `blockHashes`, concatenated into one string (BLOCK_HASH_CHARS characters a block): compact to send. */
export function packedBlockHashes(tokenIds, blockSize) {
  return blockHashes(tokenIds, blockSize).join('');
}

/** The block ids of a `packedBlockHashes` string. */
export function unpackBlockHashes(packed) {
  const hashes = new Array(packed.length / BLOCK_HASH_CHARS);
  unpackHashesInto(hashes, packed, 0, hashes.length);
  return hashes;
}

/** The ids of blocks `from` to `end` (excluded) of `packed`, into `hashes` at the same places. */
function unpackHashesInto(hashes, packed, from, end) {
  for (let i = from; i < end; i++) hashes[i] = packed.slice(i * BLOCK_HASH_CHARS, (i + 1) * BLOCK_HASH_CHARS);
}

/**
 * Each `blocks` object's ids, unpacked once: in one process the router and the worker get the same
 * object, and a long prompt's ids are many. Frozen, since every reader shares them.
 */
const unpackedBlocks = new WeakMap();

function unpackedHashesOf(blocks) {
  let hashes = unpackedBlocks.get(blocks);
  if (hashes === undefined) {
    hashes = Object.freeze(unpackBlockHashes(blocks.hashes));
    unpackedBlocks.set(blocks, hashes);
  }
  return hashes;
}

/** Block ids a turn of the event loop unpacks (well under a millisecond). */
const HASHES_PER_TURN = 4096;

/**
 * `blocks`' ids unpacked and kept for `promptBlockHashes`, HASHES_PER_TURN at a time with a turn of the
 * event loop between: a long prompt's tens of thousands would otherwise hold up every other request for
 * milliseconds at once.
 */
async function unpackInTurns(blocks) {
  const count = blocks.hashes.length / BLOCK_HASH_CHARS;
  if (unpackedBlocks.has(blocks) || count <= HASHES_PER_TURN) return;
  const hashes = new Array(count);
  for (let from = 0; from < count; from += HASHES_PER_TURN) {
    await yieldToLoop();
    unpackHashesInto(hashes, blocks.hashes, from, Math.min(count, from + HASHES_PER_TURN));
  }
  unpackedBlocks.set(blocks, Object.freeze(hashes));
}

/** Whether `blocks` were computed for these token ids and this block size. */
function fits(tokenIds, blockSize, blocks) {
  return (
    blocks !== undefined &&
    blocks.blockSize === blockSize &&
    blocks.hashes.length === Math.floor(tokenIds.length / blockSize) * BLOCK_HASH_CHARS
  );
}

/**
 * The block ids of a prompt: those sent along with it (`blocks`, computed once by the Processor) when
 * they were computed for the same block size, else computed here from `tokenIds`.
 */
export function promptBlockHashes(tokenIds, blockSize, blocks) {
  return fits(tokenIds, blockSize, blocks) ? unpackedHashesOf(blocks) : blockHashes(tokenIds, blockSize);
}

/** `promptBlockHashes`, with a long prompt's sent ids unpacked a slice a turn of the event loop. */
export async function promptBlockHashesInTurns(tokenIds, blockSize, blocks) {
  if (fits(tokenIds, blockSize, blocks)) await unpackInTurns(blocks);
  return promptBlockHashes(tokenIds, blockSize, blocks);
}
