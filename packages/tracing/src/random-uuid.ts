import { randomFillSync } from 'node:crypto';

const PER_BATCH = 128;
const HEX = Array.from('0123456789abcdef', (digit) => digit.charCodeAt(0));
const DASH = '-'.charCodeAt(0);

const random = new Uint8Array(16 * PER_BATCH);
let used = PER_BATCH;

/**
 * A random (version 4) UUID in lower case, like `crypto.randomUUID()`, from the same CSPRNG drawn in
 * batches, but built by one `String.fromCharCode` call: theirs is a string of concatenations that V8 must
 * flatten before a header can use it (docs/tracing.md, "Fastify"; the cost is in bench/results.md).
 */
export function randomUuid(): string {
  if (used === PER_BATCH) drawBatch();
  const r = random;
  const b = 16 * used++;
  return String.fromCharCode(
    high(r[b]!),
    low(r[b]!),
    high(r[b + 1]!),
    low(r[b + 1]!),
    high(r[b + 2]!),
    low(r[b + 2]!),
    high(r[b + 3]!),
    low(r[b + 3]!),
    DASH,
    high(r[b + 4]!),
    low(r[b + 4]!),
    high(r[b + 5]!),
    low(r[b + 5]!),
    DASH,
    high(r[b + 6]!),
    low(r[b + 6]!),
    high(r[b + 7]!),
    low(r[b + 7]!),
    DASH,
    high(r[b + 8]!),
    low(r[b + 8]!),
    high(r[b + 9]!),
    low(r[b + 9]!),
    DASH,
    high(r[b + 10]!),
    low(r[b + 10]!),
    high(r[b + 11]!),
    low(r[b + 11]!),
    high(r[b + 12]!),
    low(r[b + 12]!),
    high(r[b + 13]!),
    low(r[b + 13]!),
    high(r[b + 14]!),
    low(r[b + 14]!),
    high(r[b + 15]!),
    low(r[b + 15]!),
  );
}

function drawBatch(): void {
  randomFillSync(random);
  for (let b = 0; b < random.length; b += 16) {
    random[b + 6] = (random[b + 6]! & 0x0f) | 0x40; // version 4
    random[b + 8] = (random[b + 8]! & 0x3f) | 0x80; // the RFC 9562 variant
  }
  used = 0;
}

function high(byte: number): number {
  return HEX[byte >> 4]!;
}

function low(byte: number): number {
  return HEX[byte & 0x0f]!;
}
