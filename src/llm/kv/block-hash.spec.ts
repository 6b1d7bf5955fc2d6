import { hash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  blockHashes,
  packedBlockHashes,
  promptBlockHashes,
  promptBlockHashesInTurns,
  unpackBlockHashes,
} from './block-hash.mjs';

/** The definition as it was first written (block-hash.ts): the reused-buffer version must equal it. */
function reference(tokenIds: readonly number[], blockSize: number): string[] {
  const hashes: string[] = [];
  let previous = '';
  for (let start = 0; start + blockSize <= tokenIds.length; start += blockSize) {
    const block = Uint32Array.from(tokenIds.slice(start, start + blockSize));
    previous = hash('sha256', Buffer.concat([Buffer.from(previous), Buffer.from(block.buffer)]), 'base64url').slice(
      0,
      22,
    );
    hashes.push(previous);
  }
  return hashes;
}

const ids = Array.from({ length: 1000 }, (_, i) => (i * 7919) % 200_019);

describe('blockHashes', () => {
  it('is the chained SHA-256 of each full block, as first defined, for any block size', () => {
    for (const size of [1, 3, 16, 64]) expect(blockHashes(ids, size)).toEqual(reference(ids, size));
    expect(blockHashes(ids.slice(0, 15), 16)).toEqual([]);
  });

  it('gives the same ids from an Int32Array', () => {
    expect(blockHashes(Int32Array.from(ids), 16)).toEqual(reference(ids, 16));
  });

  it('packs into one string of 22 characters a block, and back', () => {
    const packed = packedBlockHashes(ids, 16);
    expect(packed).toHaveLength(22 * 62);
    expect(unpackBlockHashes(packed)).toEqual(reference(ids, 16));
    expect(unpackBlockHashes('')).toEqual([]);
  });

  it('takes the ids sent along with a prompt when they fit it, and computes them otherwise', () => {
    const sent = { blockSize: 16, hashes: packedBlockHashes(ids, 16) };
    expect(promptBlockHashes(ids, 16, sent)).toEqual(reference(ids, 16));
    const forged = { blockSize: 16, hashes: 'x'.repeat(22 * 62) };
    expect(promptBlockHashes(ids, 16, forged)[0]).toBe('x'.repeat(22)); // trusted: the Processor computed them
    expect(promptBlockHashes(ids, 32, sent)).toEqual(reference(ids, 32)); // another block size
    expect(promptBlockHashes(ids.slice(0, 500), 16, sent)).toEqual(reference(ids.slice(0, 500), 16)); // not this prompt's
    expect(promptBlockHashes(ids, 16, undefined)).toEqual(reference(ids, 16));
  });

  it("unpacks a long prompt's sent ids a slice a turn of the event loop, for promptBlockHashes to find ready", async () => {
    const blocks = 10_000;
    const tokenIds = new Array<number>(blocks * 16).fill(1);
    const packed = Array.from({ length: blocks }, (_, i) => String(i).padStart(22, '0')).join('');
    const sent = { blockSize: 16, hashes: packed };
    let turns = 0;
    let unpacking = true;
    const tick = () => {
      if (!unpacking) return;
      turns++;
      setImmediate(tick);
    };
    setImmediate(tick);
    const hashes = await promptBlockHashesInTurns(tokenIds, 16, sent);
    unpacking = false;
    expect(turns).toBeGreaterThanOrEqual(2);
    expect(hashes).toEqual(unpackBlockHashes(packed));
    expect(Object.isFrozen(hashes)).toBe(true);
    expect(promptBlockHashes(tokenIds, 16, sent)).toBe(hashes); // unpacked once
  });
});
