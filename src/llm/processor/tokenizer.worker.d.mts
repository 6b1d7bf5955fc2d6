/** In a task's `template`: the next text goes here (any other entry is a special token's id). */
export declare const TEXT: -1;

/** The texts of one prompt, and the most tokens worth sending back. */
export interface EncodeTask {
  texts: readonly string[];
  keepUpTo: number;
  /** The prompt's parts in order: a special token's id, or TEXT for the next text. Then the ids come back joined. */
  template?: readonly number[];
  /** With a template: the KV block size, to have the prompt's block ids computed with its ids. */
  blockSize?: number;
}

/**
 * The count of the prompt's text tokens; unless there are more than `keepUpTo`, their ids, text by
 * text (`ids`), or with a template the prompt's ids (`promptIds`) and, with a block size, its KV block
 * ids packed (`blockHashes`, as `packedBlockHashes` of kv/block-hash.mjs makes them).
 */
export interface EncodedTexts {
  count: number;
  ids?: number[][];
  promptIds?: number[];
  blockHashes?: string;
}

/** What a thread sends back: the count alone, or the ids packed. */
export type PackedTexts = number | Int32Array;

export declare function encodeTexts(task: EncodeTask): EncodedTexts;
export default function encodeTextsPacked(task: EncodeTask): PackedTexts;
/** `result` as `encodeTexts` returns it; each step copies at most `idsPerStep` ids. */
export declare function unpackInSteps(result: PackedTexts, idsPerStep: number): Generator<void, EncodedTexts, void>;
