import { InvalidRequestError } from './invalid-request.error.js';

/**
 * Checks of request fields that the chat/completions, completions and Responses bodies share.
 */

/** OpenAI's limits on `metadata`: pairs, and characters of a key and of a value. */
const METADATA = { pairs: 16, key: 64, value: 512 };

/** The longest field name an error message repeats: a body's keys can be of any length. */
const MAX_NAMED_FIELD = 64;

/** `metadata` as OpenAI takes it: up to 16 pairs of strings, short keys and values; none when null or absent. */
export function metadataOf(value: unknown, param = 'metadata'): Record<string, string> {
  if (value === undefined || value === null) return {};
  const entries = typeof value === 'object' && !Array.isArray(value) ? Object.entries(value) : undefined;
  if (
    entries === undefined ||
    entries.length > METADATA.pairs ||
    entries.some(([key, text]) => key.length > METADATA.key || typeof text !== 'string' || text.length > METADATA.value)
  ) {
    throw new InvalidRequestError(
      `${param} must be an object of at most ${METADATA.pairs} string values, keys of at most ${METADATA.key} characters, values of at most ${METADATA.value}.`,
      param,
    );
  }
  return value as Record<string, string>;
}

/** A field's name as an error message repeats it: a long one cut, so that the answer and its log line stay small. */
export function fieldName(field: string): string {
  return field.length <= MAX_NAMED_FIELD ? field : `${field.slice(0, MAX_NAMED_FIELD)}… (${field.length} characters)`;
}

/** OpenAI's answer to a key it does not define inside `param`, the key cut as `fieldName` cuts it. */
export function unrecognizedArgument(param: string, key: string): InvalidRequestError {
  const name = `${param}.${fieldName(key)}`;
  return new InvalidRequestError(`Unrecognized argument ${name}.`, name, 400, 'unknown_parameter');
}

/** OpenAI's answer to a parameter it defines that this server does not do (`unsupported_parameter`). */
export function unsupportedParameter(param: string, message: string): InvalidRequestError {
  return new InvalidRequestError(message, param, 400, 'unsupported_parameter');
}

/** Refuses a field `object` has that is not among `keys`, as OpenAI refuses an unknown argument. */
export function knownKeys(object: Record<string, unknown>, keys: ReadonlySet<string>, param: string): void {
  for (const key of Object.keys(object)) {
    if (!keys.has(key)) throw unrecognizedArgument(param, key);
  }
}

/** The efforts OpenAI's reasoning models take (`reasoning_effort`, the Responses API's `reasoning.effort`). */
const REASONING_EFFORTS = ['none', 'minimal', 'low', 'medium', 'high', 'xhigh'] as const;
export type ReasoningEffort = (typeof REASONING_EFFORTS)[number];

/**
 * A reasoning effort, passed on to a model that reasons (the `openai` engine's upstream), as vLLM passes
 * it to its chat template; a model that does not reason (the mocker) has nothing to do with it, as under
 * vLLM. `undefined` when not set (or null); any other value is refused naming `param`.
 */
export function reasoningEffort(value: unknown, param: string): ReasoningEffort | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string' && (REASONING_EFFORTS as readonly string[]).includes(value)) {
    return value as ReasoningEffort;
  }
  const supported = REASONING_EFFORTS.map((effort) => `'${effort}'`).join(', ');
  const given = JSON.stringify(value);
  const shown = given.length > 64 ? `${given.slice(0, 64)}…` : given;
  throw new InvalidRequestError(
    `Invalid value for ${param}: ${shown}. Supported values are: ${supported}.`,
    param,
    400,
    'invalid_value',
  );
}
