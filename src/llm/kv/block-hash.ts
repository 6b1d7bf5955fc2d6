import { hash } from 'node:crypto';

/**
 * The ids of a prompt's KV blocks: one per full block of `blockSize` tokens, each a hash of its tokens
 * chained to the previous block's id, so equal ids mean equal prefixes (as vLLM's prefix cache and
 * Dynamo's KV router identify blocks). A trailing partial block has no id: it is never shared.
 */
export function blockHashes(tokenIds: readonly number[], blockSize: number): string[] {
  const hashes: string[] = [];
  let previous = '';
  for (let start = 0; start + blockSize <= tokenIds.length; start += blockSize) {
    const block = Uint32Array.from(tokenIds.slice(start, start + blockSize));
    previous = hash('sha256', Buffer.concat([Buffer.from(previous), Buffer.from(block.buffer)]), 'base64url').slice(0, 22);
    hashes.push(previous);
  }
  return hashes;
}
