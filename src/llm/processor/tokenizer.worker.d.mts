/** The texts of one prompt, and the most tokens worth sending back. */
export interface EncodeTask {
  texts: readonly string[];
  keepUpTo: number;
}

/** The count of the prompt's tokens; their ids, text by text, unless there are more than `keepUpTo`. */
export interface EncodedTexts {
  count: number;
  ids?: number[][];
}

/** What a thread sends back: the count alone, or the ids packed. */
export type PackedTexts = number | Int32Array;

export declare function encodeTexts(task: EncodeTask): EncodedTexts;
export default function encodeTextsPacked(task: EncodeTask): PackedTexts;
export declare function unpack(result: PackedTexts): EncodedTexts;
