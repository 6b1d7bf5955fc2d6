/** The characters of one block id. */
export declare const BLOCK_HASH_CHARS: number;

/** A prompt's KV block ids as they travel with it: computed once, for `blockSize`, concatenated. */
export interface PromptBlocks {
  blockSize: number;
  /** `packedBlockHashes` of the prompt's token ids: BLOCK_HASH_CHARS characters a full block. */
  hashes: string;
}

/**
 * The ids of a prompt's KV blocks: one per full block of `blockSize` tokens, each a hash of its tokens
 * chained to the previous block's id, so equal ids mean equal prefixes. A trailing partial block has none.
 */
export declare function blockHashes(tokenIds: ArrayLike<number>, blockSize: number): string[];

/** `blockHashes`, concatenated into one string: compact to send. */
export declare function packedBlockHashes(tokenIds: ArrayLike<number>, blockSize: number): string;

/** The block ids of a `packedBlockHashes` string. */
export declare function unpackBlockHashes(packed: string): string[];

/** The prompt's block ids: `blocks` when they fit `tokenIds` and `blockSize`, else computed from `tokenIds`. */
export declare function promptBlockHashes(
  tokenIds: readonly number[],
  blockSize: number,
  blocks: PromptBlocks | undefined,
): readonly string[];

/** `promptBlockHashes`, with a long prompt's sent ids unpacked a slice a turn of the event loop. */
export declare function promptBlockHashesInTurns(
  tokenIds: readonly number[],
  blockSize: number,
  blocks: PromptBlocks | undefined,
): Promise<readonly string[]>;
