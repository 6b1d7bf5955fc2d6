import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

/**
 * Every token's bytes in one buffer, found by id through two typed arrays. One array of small Buffers
 * (one per token, 200k of them) would be as many objects on the heap of the event loop's thread, which
 * every full garbage collection marks again: under a flood of large bodies, collections come often
 * and their pauses are what other requests wait for. Typed arrays' contents are not traced.
 */
interface TokenByteTable {
  bytes: Uint8Array;
  /** Where each token's bytes start in `bytes`. */
  starts: Uint32Array;
  /** How many bytes each token holds; 0 for an id that has none (a special token). */
  lengths: Uint8Array;
  longest: number;
}

let table: TokenByteTable | undefined;

function tokenByteTable(): TokenByteTable {
  table ??= loadTable();
  return table;
}

function loadTable(): TokenByteTable {
  const path = createRequire(import.meta.url).resolve('gpt-tokenizer/data/o200k_base.tiktoken');
  const ids: number[] = [];
  const encoded: string[] = [];
  let room = 0;
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const space = line.indexOf(' ');
    if (space <= 0) continue;
    ids.push(Number(line.slice(space + 1)));
    encoded.push(line.slice(0, space));
    room += Math.ceil(space / 4) * 3; // base64: at most 3 bytes for every 4 characters
  }
  const size = ids.reduce((most, id) => Math.max(most, id), -1) + 1;
  const bytes = Buffer.allocUnsafeSlow(room);
  const starts = new Uint32Array(size);
  const lengths = new Uint8Array(size);
  let used = 0;
  let longest = 0;
  for (let i = 0; i < ids.length; i++) {
    const written = bytes.write(encoded[i]!, used, 'base64');
    if (written > 255) throw new Error(`Token ${ids[i]} holds ${written} bytes, more than the table keeps.`);
    starts[ids[i]!] = used;
    lengths[ids[i]!] = written;
    used += written;
    longest = Math.max(longest, written);
  }
  return { bytes: new Uint8Array(bytes.buffer, 0, used), starts, lengths, longest };
}

/**
 * The UTF-8 bytes of o200k_base token `id`, from the rank file the `gpt-tokenizer` package ships (a view
 * of the table, not to be written to); `undefined` for a special token.
 *
 * Why not the package's `decode()`: it feeds every call through one module-wide `TextDecoder` in
 * streaming mode, so decoding tokens that end inside a character leaves those bytes behind, and they
 * corrupt the next `decode()` call, whichever request makes it. Decoding bytes with a TextDecoder of
 * our own per stream avoids that shared state.
 */
export function bytesOfToken(id: number): Uint8Array | undefined {
  const { bytes, starts, lengths } = tokenByteTable();
  const length = lengths[id];
  if (length === undefined || length === 0) return undefined;
  return new Uint8Array(bytes.buffer, bytes.byteOffset + starts[id]!, length);
}

/** The most bytes one token holds (128 in o200k_base: a run of spaces). */
export function longestTokenBytes(): number {
  return tokenByteTable().longest;
}
