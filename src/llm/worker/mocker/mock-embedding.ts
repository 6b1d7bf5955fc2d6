/** The length of the mocker's vectors when a request does not ask for `dimensions`. */
export const MOCK_EMBEDDING_DIMENSIONS = 256;
/** The longest vectors the mocker makes (as long as the largest of OpenAI's embedding models). */
export const MOCK_EMBEDDING_MAX_DIMENSIONS = 3072;

/** Places each token adds to: with two, a collision of two tokens' places rarely erases either. */
const PLACES_PER_TOKEN = 2;

/**
 * The mocker's embedding of a token sequence: a hashed bag of its tokens (each token adds +1 or -1 at
 * a few places given by a hash of its id), scaled to length 1. It depends on the token ids alone, so
 * every worker gives a text the same vector, and texts that share tokens point the same way more than
 * texts that share none: enough for a client's retrieval to be tested, with no model behind it.
 */
export function mockEmbedding(tokenIds: readonly number[], dimensions: number): Float32Array {
  const sums = new Float64Array(dimensions);
  for (const id of tokenIds) {
    for (let place = 0; place < PLACES_PER_TOKEN; place++) {
      const hash = mix32(Math.imul(id, PLACES_PER_TOKEN) + place);
      sums[(hash >>> 1) % dimensions]! += hash & 1 ? 1 : -1;
    }
  }
  let squares = 0;
  for (const value of sums) squares += value * value;
  const vector = new Float32Array(dimensions);
  // Tokens that cancel out everywhere leave no direction: any unit vector will do, the same each time.
  if (squares === 0) vector[0] = 1;
  else for (let i = 0; i < dimensions; i++) vector[i] = sums[i]! / Math.sqrt(squares);
  return vector;
}

/** MurmurHash3's finaliser: every bit of the input flips about half the bits of the output. */
function mix32(value: number): number {
  let h = value ^ 0x9e3779b9;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}
