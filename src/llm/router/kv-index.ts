import type { KvEvent, WorkerLoad } from '../kv/kv-events.js';

/**
 * The Router's view of the workers, built from their KV events: which blocks each one caches, and how
 * loaded it was when it last reported.
 */
export class KvIndex {
  private readonly blocksByWorker = new Map<string, Set<string>>();
  private readonly loads = new Map<string, WorkerLoad>();

  apply(event: KvEvent): void {
    let blocks = this.blocksByWorker.get(event.workerId);
    if (blocks === undefined) {
      blocks = new Set();
      this.blocksByWorker.set(event.workerId, blocks);
    }
    for (const block of event.removed) blocks.delete(block);
    for (const block of event.stored) blocks.add(block);
    this.loads.set(event.workerId, event.load);
  }

  /** Leading blocks of `hashes` that `workerId` caches. */
  overlapBlocks(workerId: string, hashes: readonly string[]): number {
    const blocks = this.blocksByWorker.get(workerId);
    if (blocks === undefined) return 0;
    let overlap = 0;
    while (overlap < hashes.length && blocks.has(hashes[overlap]!)) overlap++;
    return overlap;
  }

  load(workerId: string): WorkerLoad | undefined {
    return this.loads.get(workerId);
  }

  /** Whether the worker's last report had every slot and every place in its queue taken. */
  isFull(workerId: string): boolean {
    const load = this.loads.get(workerId);
    return load !== undefined && load.running >= load.maxRunning && load.waiting >= load.maxWaiting;
  }

  /** Drops what is known of a worker that is gone. */
  forget(workerId: string): void {
    this.blocksByWorker.delete(workerId);
    this.loads.delete(workerId);
  }

  /** Workers the index knows of. */
  workers(): string[] {
    return [...this.blocksByWorker.keys()];
  }
}
