// Plain JavaScript, not TypeScript: the tokenizer's worker threads load this file as it is, whether the
// service runs from dist/ or from its sources (bounded-bpe.d.mts gives TypeScript its types).
import o200k from 'gpt-tokenizer/encoding/o200k_base';
import { O200K_TOKEN_SPLIT_REGEX } from 'gpt-tokenizer/encodingParams/constants';

/** The longest piece of the pre-split that is encoded in one BPE call; longer ones are cut. */
export const MAX_PIECE_CHARS = 256;

/**
 * gpt-tokenizer's byte-pair encoder, which its `encode` runs on each piece of the pre-split. Not part
 * of its typed API: bounded-bpe.spec.ts holds this file to `encode`'s ids, so a change shows there.
 */
const bpe = o200k.bytePairEncodingCoreProcessor;
if (
  !['getBpeRankFromString', 'bytePairEncode', 'bytePairMerge'].every((method) => typeof bpe?.[method] === 'function')
) {
  throw new Error('gpt-tokenizer no longer has the byte-pair encoder bounded-bpe.mjs uses');
}

/**
 * Pieces up to this long (words, mostly) go through the encoder's merge cache, of 100,000 entries;
 * longer ones are merged afresh, so that no input can fill the cache with large entries.
 */
const CACHED_PIECE_CHARS = 32;

/** The shortest substring V8 keeps as a view of its parent string rather than as a copy. */
const SHORTEST_VIEW = 13;

const utf8 = new TextEncoder();

/** The last long piece or slice merged, and its ids: a run of one character gives the same slice again and again. */
let last = { piece: '', ids: [] };

/**
 * o200k_base token ids of `text`, special-token markers as text, in time linear in its length: what
 * gpt-tokenizer's `encode(text, { disallowedSpecial: new Set() })` gives, for ordinary text.
 *
 * gpt-tokenizer splits text into pieces with a regex, then merges each piece's bytes pairwise, in time
 * quadratic in the piece's length. Ordinary text has short pieces, but a run the regex does not break
 * (one character repeated, CJK without punctuation, a line of symbols) is one piece. Such a piece,
 * when longer than MAX_PIECE_CHARS, is encoded in slices of that length: its token count can then
 * differ a little from the unsplit one, a few tokens per slice.
 */
export function encodeBounded(text) {
  const ids = [];
  for (const [piece] of text.matchAll(O200K_TOKEN_SPLIT_REGEX)) {
    if (piece.length <= MAX_PIECE_CHARS) appendPiece(ids, piece);
    else for (const slice of slices(piece)) appendPiece(ids, slice);
  }
  return ids;
}

/** Appends a piece's ids, as gpt-tokenizer's `encode` does (one push at a time: a spread of many overflows the stack). */
function appendPiece(ids, piece) {
  const rank = bpe.getBpeRankFromString(piece);
  if (rank !== undefined) ids.push(rank);
  else for (const id of pieceIds(piece)) ids.push(id);
}

/** The ids of a piece that is not one token. */
function pieceIds(piece) {
  // The merge cache keeps the piece as a key: a view into the prompt would keep all of it in memory.
  if (piece.length <= CACHED_PIECE_CHARS)
    return bpe.bytePairEncode(piece.length < SHORTEST_VIEW ? piece : copyOf(piece));
  if (piece !== last.piece) last = { piece: copyOf(piece), ids: bpe.bytePairMerge(utf8.encode(piece)) };
  return last.ids;
}

/** A string of its own with the text of `view`. */
function copyOf(view) {
  return ` ${view}`.slice(1);
}

/** `piece` in slices of at most MAX_PIECE_CHARS, none cutting a surrogate pair. */
function* slices(piece) {
  for (let start = 0; start < piece.length;) {
    let end = Math.min(start + MAX_PIECE_CHARS, piece.length);
    if (end < piece.length && isLowSurrogate(piece.charCodeAt(end))) end--;
    yield piece.slice(start, end);
    start = end;
  }
}

function isLowSurrogate(code) {
  return code >= 0xdc00 && code <= 0xdfff;
}
