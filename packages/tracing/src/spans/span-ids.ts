import { randomFillSync } from 'node:crypto';

// Ids are cut from one pool of random bytes refilled in one call, so a span costs no system call.
const POOL_BYTES = 4096;
const pool = Buffer.alloc(POOL_BYTES);
let used = POOL_BYTES;

function randomHex(bytes: number): string {
  for (;;) {
    if (used + bytes > POOL_BYTES) {
      randomFillSync(pool);
      used = 0;
    }
    const start = used;
    used += bytes;
    // W3C Trace Context forbids an all-zero id.
    for (let i = start; i < used; i++) if (pool[i] !== 0) return pool.toString('hex', start, used);
  }
}

/** A new W3C trace id: 16 random bytes as 32 lower-case hex digits, never all zeros. */
export function newTraceId(): string {
  return randomHex(16);
}

/** A new W3C span (parent) id: 8 random bytes as 16 lower-case hex digits, never all zeros. */
export function newSpanId(): string {
  return randomHex(8);
}
