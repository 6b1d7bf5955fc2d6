/** The topic workers publish their KV cache changes and load on. */
export const KV_EVENTS_TOPIC = 'kv-events';

/** The topic prefill workers publish their load on. */
export const PREFILL_LOAD_TOPIC = 'prefill-load';

/** How busy a worker is, as the Router weighs it. */
export interface WorkerLoad {
  /** Sequences being decoded now. */
  running: number;
  /** Sequences waiting for a slot. */
  waiting: number;
  /** The most sequences decoded at once. */
  maxRunning: number;
  /** The most sequences that may wait. */
  maxWaiting: number;
  /** Share of the KV cache's blocks in use, 0 to 1. */
  cacheUsage: number;
}

/** One change of a worker's KV cache, with its load at that moment. */
export interface KvEvent {
  workerId: string;
  /** Blocks now cached. */
  stored: string[];
  /** Blocks evicted. */
  removed: string[];
  load: WorkerLoad;
}

/** A prefill worker's load. */
export interface PrefillLoad {
  workerId: string;
  running: number;
  waiting: number;
}
