import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

let table: Uint8Array[] | undefined;

/**
 * The UTF-8 bytes of each o200k_base token, from the rank file the `gpt-tokenizer` package ships.
 *
 * Why not the package's `decode()`: it feeds every call through one module-wide `TextDecoder` in
 * streaming mode, so decoding tokens that end inside a character leaves those bytes behind, and they
 * corrupt the next `decode()` call, whichever request makes it. Decoding bytes with a TextDecoder of
 * our own per stream avoids that shared state.
 */
export function tokenBytes(): readonly Uint8Array[] {
  if (table === undefined) {
    const path = createRequire(import.meta.url).resolve('gpt-tokenizer/data/o200k_base.tiktoken');
    const loaded: Uint8Array[] = [];
    for (const line of readFileSync(path, 'utf8').split('\n')) {
      const space = line.indexOf(' ');
      if (space > 0) loaded[Number(line.slice(space + 1))] = Buffer.from(line.slice(0, space), 'base64');
    }
    table = loaded;
  }
  return table;
}

let longest: number | undefined;

/** The most bytes one token holds (128 in o200k_base: a run of spaces). */
export function longestTokenBytes(): number {
  longest ??= tokenBytes().reduce((most, bytes) => Math.max(most, bytes?.length ?? 0), 0);
  return longest;
}
