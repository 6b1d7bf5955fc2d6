import { encode } from 'gpt-tokenizer/encoding/o200k_base';

const WORDS = (
  'the a of and to in is that for it as with was on be by this are from at or an have not which but all ' +
  'they one you were her there can more if will each about how up out them then she many some so these ' +
  'would other into has two time could no make than first been its who now people my made over did down ' +
  'only way find use may water long little very after words called just where most know get through back ' +
  'much before go good new write our used me man too any day same right look think also around another ' +
  'came come work three word must because does part even place well such here take why things help put ' +
  'years different away again off went old number great tell men say small every found still between ' +
  'name should home big give air line set own under read last never us left end along while might next ' +
  'sound below saw something thought both few those always looked show large often together asked house'
).split(' ');

/** Words that are one token each with a leading space, so every generated token decodes to a word. */
const WORD_TOKENS = WORDS.map((word) => encode(` ${word}`))
  .filter((ids) => ids.length === 1)
  .map((ids) => ids[0]!);
const PERIOD = encode('.')[0]!;
const COMMA = encode(',')[0]!;

/** The shortest and longest answers the mocker gives before it stops by itself. */
const MIN_LENGTH = 16;
const MAX_LENGTH = 160;
/** After the first token, a roll under the first is a period, under the second a comma, else a word. */
const PERIOD_BELOW = 0.06;
const COMMA_BELOW = 0.12;

/** A token's probability at some position, and the whole distribution, most likely first (ties by id). */
export type TokenProbability = readonly [token: number, probability: number];

function distributionOf(weights: readonly TokenProbability[]): TokenProbability[] {
  const sums = new Map<number, number>();
  for (const [token, p] of weights) sums.set(token, (sums.get(token) ?? 0) + p);
  return [...sums].sort((a, b) => b[1] - a[1] || a[0] - b[0]);
}

const OPENING = distributionOf(WORD_TOKENS.map((token) => [token, 1 / WORD_TOKENS.length]));
const MIDDLE = distributionOf([
  [PERIOD, PERIOD_BELOW],
  [COMMA, COMMA_BELOW - PERIOD_BELOW],
  ...WORD_TOKENS.map((token): TokenProbability => [token, (1 - COMMA_BELOW) / WORD_TOKENS.length]),
]);
const ENDING: TokenProbability[] = [[PERIOD, 1]];

/**
 * The mocker's answer to a prompt: a deterministic sequence of word tokens, the same for the same
 * prompt and seed on every worker, whose natural length (before `max_tokens`) also follows from them.
 */
export class MockText {
  readonly length: number;
  private readonly next: () => number;

  constructor(promptTokenIds: readonly number[], seed: number) {
    this.next = mulberry32(fnv1a(promptTokenIds, seed));
    this.length = MIN_LENGTH + Math.floor(this.next() * (MAX_LENGTH - MIN_LENGTH));
  }

  /** Passes over the answer's first `count` tokens: a migrated generation goes on after them. */
  skip(count: number): void {
    for (let position = 0; position < count; position++) this.token(position);
  }

  /** The next token of the answer; call it `length` times. */
  token(position: number): number {
    if (position === this.length - 1) return PERIOD;
    const roll = this.next();
    if (roll < PERIOD_BELOW && position > 0) return PERIOD;
    if (roll < COMMA_BELOW && position > 0) return COMMA;
    return WORD_TOKENS[Math.floor(this.next() * WORD_TOKENS.length)]!;
  }

  /** What `token` draws from at `position`: each token it can give there with its probability, most likely first. */
  distribution(position: number): readonly TokenProbability[] {
    if (position === this.length - 1) return ENDING;
    return position === 0 ? OPENING : MIDDLE;
  }
}

export function fnv1a(tokenIds: readonly number[], seed: number): number {
  let hash = 0x811c9dc5 ^ (seed | 0);
  // An indexed loop: a long prompt's ids are hashed on the event loop, where an iterator costs several times more.
  // eslint-disable-next-line @typescript-eslint/prefer-for-of -- the indexed loop is the point, see above
  for (let i = 0; i < tokenIds.length; i++) {
    hash ^= tokenIds[i]!;
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** A small, fast, seedable PRNG: the same seed gives the same sequence on every machine. */
export function mulberry32(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
