import { getCurrentRequestId } from '@threadline/tracing';
import { InvalidRequestError } from '../protocol/invalid-request.error.js';
import type { EmbeddingEncoding, EmbeddingInput } from '../protocol/pipeline.types.js';
import { CONTEXT_LENGTH_EXCEEDED } from './context-length.js';
import { servedModelOf } from './openai-request.validator.js';

/** The most inputs one request may embed, as OpenAI's API allows. */
export const MAX_EMBEDDING_INPUTS = 2048;

const FIELDS = new Set(['model', 'input', 'encoding_format', 'dimensions', 'user']);
const ENCODINGS = new Set<EmbeddingEncoding>(['float', 'base64']);

/** An embeddings request once validated: its inputs as texts to tokenize, or as token ids already. */
export interface NormalizedEmbeddingRequest {
  model: string;
  inputs: { texts: string[] } | { tokenIds: number[][] };
  encodingFormat: EmbeddingEncoding;
  dimensions: number | undefined;
  /** The input as the client wrote it, and `user`, for an engine that forwards them. */
  original: { input: EmbeddingInput; user?: string };
}

type Body = Record<string, unknown>;

/**
 * Checks an OpenAI `embeddings` body: every problem, a field this service does not know among them,
 * is an InvalidRequestError naming the parameter; a model other than the served one is a 404.
 */
export function validateEmbeddingRequest(body: unknown, servedModel: string): NormalizedEmbeddingRequest {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new InvalidRequestError('The request body must be a JSON object.');
  }
  const b = body as Body;
  const unknown = Object.keys(b).find((field) => !FIELDS.has(field));
  if (unknown !== undefined) {
    throw new InvalidRequestError(
      `Unrecognized request argument supplied: ${unknown}. An embeddings request takes ${[...FIELDS].join(', ')}.`,
      unknown,
    );
  }
  const model = servedModelOf(b, servedModel);
  const inputs = inputsOf(b.input);
  const original: NormalizedEmbeddingRequest['original'] = { input: b.input as EmbeddingInput };
  const user = b.user;
  if (user !== undefined && user !== null) {
    if (typeof user !== 'string') throw new InvalidRequestError('user must be a string.', 'user');
    original.user = user;
  }
  return {
    model,
    inputs,
    encodingFormat: encodingOf(b.encoding_format),
    dimensions: dimensionsOf(b.dimensions),
    original,
  };
}

/** The inputs: a text, a list of texts, a list of token ids (one input), or a list of such lists. */
function inputsOf(input: unknown): NormalizedEmbeddingRequest['inputs'] {
  const shapes =
    'input must be a non-empty string, an array of them, an array of token ids, or an array of arrays of token ids';
  if (typeof input === 'string') {
    if (input.length === 0) throw new InvalidRequestError(`${shapes}; it is an empty string.`, 'input');
    return { texts: [input] };
  }
  if (!Array.isArray(input) || input.length === 0) throw new InvalidRequestError(`${shapes}.`, 'input');
  if (input.length > MAX_EMBEDDING_INPUTS) {
    throw new InvalidRequestError(
      `input holds ${input.length} inputs; at most ${MAX_EMBEDDING_INPUTS} may be embedded in one request.`,
      'input',
    );
  }
  if (input.every((item) => typeof item === 'string')) {
    const empty = input.findIndex((text) => text.length === 0);
    if (empty >= 0) throw new InvalidRequestError(`${shapes}; input[${empty}] is an empty string.`, `input[${empty}]`);
    return { texts: input };
  }
  if (input.every(isTokenId)) return { tokenIds: [input] };
  if (input.every(Array.isArray)) {
    const bad = input.findIndex((ids) => ids.length === 0 || !ids.every(isTokenId));
    if (bad >= 0) {
      throw new InvalidRequestError(`${shapes}; input[${bad}] is not a non-empty array of token ids.`, `input[${bad}]`);
    }
    return { tokenIds: input as number[][] };
  }
  throw new InvalidRequestError(`${shapes}, not a mix.`, 'input');
}

function isTokenId(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function encodingOf(value: unknown): EmbeddingEncoding {
  if (value === undefined || value === null) return 'float';
  if (typeof value !== 'string' || !ENCODINGS.has(value as EmbeddingEncoding)) {
    throw new InvalidRequestError(`encoding_format must be one of ${[...ENCODINGS].join(', ')}.`, 'encoding_format');
  }
  return value as EmbeddingEncoding;
}

/** The engine holds `dimensions` to what its model offers; here, only that it is a length. */
function dimensionsOf(value: unknown): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new InvalidRequestError('dimensions must be a whole number, at least 1.', 'dimensions');
  }
  return value;
}

/** The parameter that holds input `index` of `count`: the whole `input` when it is the only one. */
export function inputParam(index: number, count: number): string {
  return count === 1 ? 'input' : `input[${index}]`;
}

/**
 * Refuses an input longer than the model's context (each input of a batch is held to it on its own),
 * with OpenAI's 400 `context_length_exceeded`. `atLeast`: `tokens` is a lower bound, known before
 * tokenizing.
 */
export function assertInputFits(maxModelLen: number, tokens: number, atLeast: boolean, param: string): void {
  if (tokens <= maxModelLen) return;
  const id = getCurrentRequestId();
  const message =
    `This model's maximum context length is ${maxModelLen} tokens. However, ${param} resulted in ` +
    `${atLeast ? 'at least ' : ''}${tokens} tokens. Please reduce the length of the input.`;
  throw new InvalidRequestError(
    id === undefined ? message : `${message} (request id ${id})`,
    param,
    400,
    CONTEXT_LENGTH_EXCEEDED,
  );
}
