import type { ApiKind } from '../protocol/pipeline.types.js';
import { InvalidRequestError } from '../protocol/invalid-request.error.js';

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

/** The fields the Processor reads; the others are dropped at the Frontend and never travel the bus. */
const FIELDS: Record<ApiKind, ReadonlySet<string>> = {
  chat: new Set([...SHARED_FIELDS, 'messages', 'max_completion_tokens']),
  completion: new Set([...SHARED_FIELDS, 'prompt']),
};

/**
 * The body as it goes to the Processor: refused with a 400 naming the field when it nests deeper than
 * `MAX_JSON_DEPTH` (whether or not the field is one the service reads, so the answer is the same in
 * every layout), and without the fields the Processor does not read. Anything but an object is passed
 * on for the Processor to refuse.
 */
export function requestForBus(api: ApiKind, body: unknown): unknown {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return body;
  const kept: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(body)) {
    const depth = nestingDepth(value, MAX_JSON_DEPTH);
    if (depth > MAX_JSON_DEPTH) {
      throw new InvalidRequestError(
        `\`${field}\` is nested more than ${MAX_JSON_DEPTH} levels deep; a request may nest at most ${MAX_JSON_DEPTH} levels.`,
        field,
        400,
        'json_too_deep',
      );
    }
    if (FIELDS[api].has(field)) kept[field] = value;
  }
  return kept;
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
