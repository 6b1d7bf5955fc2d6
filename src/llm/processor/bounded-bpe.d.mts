/** The longest piece of the pre-split that is encoded in one BPE call; longer ones are cut. */
export declare const MAX_PIECE_CHARS: number;

/** o200k_base token ids of `text`, special-token markers as text, in time linear in its length. */
export declare function encodeBounded(text: string): number[];
