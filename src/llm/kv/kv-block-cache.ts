/** What storing a prompt's blocks did to the cache. */
export interface KvCacheChange {
  /** Leading blocks of the prompt that were already cached. */
  hitBlocks: number;
  stored: string[];
  removed: string[];
}

/**
 * A worker's KV cache, simulated: a fixed number of blocks, least recently used evicted first. A prompt
 * reuses the longest cached prefix of its blocks, and then all its blocks are cached (most recent).
 */
export class KvBlockCache {
  // A Map iterates in insertion order: re-inserting a block on use keeps the order LRU → MRU.
  private readonly blocks = new Map<string, true>();

  constructor(readonly capacity: number) {}

  get usage(): number {
    return this.blocks.size / this.capacity;
  }

  /** Leading blocks of `hashes` that are cached, without changing the cache. */
  prefixHits(hashes: readonly string[]): number {
    let hits = 0;
    while (hits < hashes.length && this.blocks.has(hashes[hits]!)) hits++;
    return hits;
  }

  /** Uses the cached prefix of `hashes` and caches the rest, evicting the least recently used blocks. */
  store(hashes: readonly string[]): KvCacheChange {
    return { hitBlocks: this.prefixHits(hashes), ...this.insert(hashes) };
  }

  /**
   * Caches `hashes` as the most recently used blocks, evicting the least recently used beyond capacity.
   * Inserting a prompt's blocks slice by slice, in order, leaves the cache as one insert would.
   */
  insert(hashes: readonly string[]): Omit<KvCacheChange, 'hitBlocks'> {
    const stored: string[] = [];
    const removed: string[] = [];
    for (const block of hashes.slice(-this.capacity)) {
      if (!this.blocks.delete(block)) stored.push(block);
      this.blocks.set(block, true);
    }
    for (const oldest of this.blocks.keys()) {
      if (this.blocks.size <= this.capacity) break;
      this.blocks.delete(oldest);
      removed.push(oldest);
    }
    return { stored, removed };
  }
}
