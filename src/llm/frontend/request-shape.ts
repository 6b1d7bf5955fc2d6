import type { ApiKind } from '../protocol/pipeline.types.js';
import { InvalidRequestError } from '../protocol/invalid-request.error.js';
import { fieldName, metadataOf, unsupportedParameter } from '../protocol/openai-fields.js';

/**
 * Deeper than any OpenAI request needs (a message's content part is 4 levels down; JSON schemas in
 * `tools` or `response_format` rarely pass 20), shallow enough that no serialiser on the way recurses
 * out of stack.
 */
export const MAX_JSON_DEPTH = 64;

/** The sampling and streaming fields both APIs take. */
const SHARED_FIELDS = [
  'model',
  'stream',
  'stream_options',
  'max_tokens',
  'temperature',
  'top_p',
  'presence_penalty',
  'frequency_penalty',
  'seed',
  'stop',
  'n',
];

/** The fields the Processor reads: they go on to it. */
const FIELDS: Record<ApiKind, ReadonlySet<string>> = {
  chat: new Set([
    ...SHARED_FIELDS,
    'messages',
    'max_completion_tokens',
    'tools',
    'tool_choice',
    'parallel_tool_calls',
    'response_format',
    'logprobs',
    'top_logprobs',
    'reasoning_effort',
    // vLLM's, which its clients (and the `openai` engine, continuing a moved generation) send.
    'add_generation_prompt',
    'continue_final_message',
  ]),
  completion: new Set([...SHARED_FIELDS, 'prompt', 'logprobs']),
};

/** What OpenAI takes in a field this server accepts without acting on it (null is always taken). */
type IgnoredShape = 'string' | 'boolean' | 'metadata';

/**
 * OpenAI's fields that ask nothing of a server without accounts or storage: accepted when OpenAI would
 * take their value, and not sent on.
 */
const NOTHING_TO_DO: Record<ApiKind, ReadonlyMap<string, IgnoredShape>> = {
  chat: new Map([
    ['user', 'string'],
    ['metadata', 'metadata'],
    ['store', 'boolean'],
    ['service_tier', 'string'],
    ['prompt_cache_key', 'string'],
    ['safety_identifier', 'string'],
  ]),
  completion: new Map([['user', 'string']]),
};

/** OpenAI's fields this server does not implement: refused, unless their value asks for nothing. */
const NOT_IMPLEMENTED: Record<ApiKind, ReadonlySet<string>> = {
  chat: new Set([
    'logit_bias',
    'audio',
    'modalities',
    'prediction',
    'web_search_options',
    'functions',
    'function_call',
    'verbosity',
  ]),
  completion: new Set(['logit_bias', 'echo', 'best_of', 'suffix']),
};

/**
 * The body as it goes to the Processor, with the fields it reads. Refused with a 400 naming the field:
 * one nested deeper than `MAX_JSON_DEPTH` (whichever field it is, so the answer is the same in every
 * layout), one OpenAI defines that this server does not implement, and one OpenAI does not define (in
 * OpenAI's words). Anything but an object is passed on for the Processor to refuse.
 */
export function requestForBus(api: ApiKind, body: unknown): unknown {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return body;
  const fields = Object.entries(body);
  for (const [field, value] of fields) {
    const depth = nestingDepth(value, MAX_JSON_DEPTH);
    if (depth > MAX_JSON_DEPTH) {
      throw new InvalidRequestError(
        `\`${field}\` is nested more than ${MAX_JSON_DEPTH} levels deep; a request may nest at most ${MAX_JSON_DEPTH} levels.`,
        field,
        400,
        'json_too_deep',
      );
    }
  }
  const kept: Record<string, unknown> = {};
  for (const [field, value] of fields) {
    if (FIELDS[api].has(field)) kept[field] = value;
    else if (NOTHING_TO_DO[api].has(field)) assertIgnoredShape(field, value, NOTHING_TO_DO[api].get(field)!);
    else if (NOT_IMPLEMENTED[api].has(field)) {
      if (!asksNothing(field, value)) {
        throw unsupportedParameter(field, `\`${field}\` is not supported by this server.`);
      }
    } else throw new InvalidRequestError(`Unrecognized request argument supplied: ${fieldName(field)}`);
  }
  return kept;
}

/** Refuses, naming the field, a value OpenAI would refuse in a field this server does not act on. */
function assertIgnoredShape(field: string, value: unknown, shape: IgnoredShape): void {
  if (value === null) return;
  if (shape === 'string' && typeof value !== 'string')
    throw new InvalidRequestError(`${field} must be a string.`, field);
  if (shape === 'boolean' && typeof value !== 'boolean')
    throw new InvalidRequestError(`${field} must be a boolean.`, field);
  if (shape === 'metadata') metadataOf(value, field);
}

/**
 * A value that asks for no behaviour: absent, off, empty, or what the server does anyway (the one result
 * `best_of` 1 gives, text output alone, OpenAI's default verbosity).
 */
function asksNothing(field: string, value: unknown): boolean {
  if (value === null || value === false) return true;
  if (field === 'best_of' && value === 1) return true;
  if (field === 'verbosity' && value === 'medium') return true;
  if (field === 'modalities' && Array.isArray(value) && value.every((modality) => modality === 'text')) return true;
  if (Array.isArray(value)) return value.length === 0;
  return typeof value === 'object' && Object.keys(value).length === 0;
}

/** How many levels of arrays and objects `value` holds (1 for the field itself), counted without recursion; stops once past `limit`. */
export function nestingDepth(value: unknown, limit: number): number {
  let deepest = 0;
  const pending: Array<[unknown, number]> = [[value, 1]];
  while (pending.length > 0) {
    const [current, depth] = pending.pop()!;
    if (current === null || typeof current !== 'object') continue;
    if (depth > deepest) deepest = depth;
    if (deepest > limit) return deepest;
    for (const child of Array.isArray(current) ? current : Object.values(current)) {
      if (child !== null && typeof child === 'object') pending.push([child, depth + 1]);
    }
  }
  return deepest;
}
