import type {
  ApiKind,
  ChatMessage,
  ChatTemplateOptions,
  GivenSampling,
  NormalizedRequest,
  SamplingParams,
} from '../protocol/pipeline.types.js';
import { InvalidRequestError } from '../protocol/invalid-request.error.js';
import {
  fieldName,
  knownKeys,
  reasoningEffort,
  unrecognizedArgument,
  unsupportedParameter,
} from '../protocol/openai-fields.js';
import { messageToolCalls, outputSpec } from './output-spec.validator.js';

const ROLES = new Set<ChatMessage['role']>(['system', 'developer', 'user', 'assistant', 'tool']);
/**
 * The fields OpenAI defines on a message of each role. An assistant's also holds what an answer of this
 * API carries, so that it can be sent back as it came (`annotations`; `audio` and `function_call` only
 * null), and `parsed`, which the official client's `parse()` adds to it (the content again, not read).
 */
const MESSAGE_KEYS: Record<ChatMessage['role'], ReadonlySet<string>> = {
  system: new Set(['role', 'content', 'name']),
  developer: new Set(['role', 'content', 'name']),
  user: new Set(['role', 'content', 'name']),
  assistant: new Set([
    'role',
    'content',
    'name',
    'refusal',
    'tool_calls',
    'annotations',
    'audio',
    'function_call',
    'parsed',
  ]),
  tool: new Set(['role', 'content', 'tool_call_id']),
};
const TEXT_PART_KEYS = new Set(['type', 'text']);
const REFUSAL_PART_KEYS = new Set(['type', 'refusal']);
const MAX_CHOICES = 16;

type Body = Record<string, unknown>;

/**
 * Checks an OpenAI `chat/completions` or `completions` body and returns it normalised. Every problem
 * is an InvalidRequestError naming the parameter, as OpenAI's API reports it.
 */
export function validateOpenAIRequest(api: ApiKind, body: unknown, servedModel: string): NormalizedRequest {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new InvalidRequestError('The request body must be a JSON object.');
  }
  const b = body as Body;
  const model = servedModelOf(b, servedModel);
  const stream = optionalBoolean(b, 'stream') ?? false;
  const { includeUsage, continuousUsage } = streamOptions(b.stream_options, stream);
  const normalized: NormalizedRequest = {
    api,
    model,
    stream,
    includeUsage,
    continuousUsage,
    sampling: sampling(b, api),
  };
  if (api === 'chat') {
    normalized.messages = messages(b.messages);
    const template = chatTemplate(b, normalized.messages);
    if (template !== undefined) normalized.chatTemplate = template;
  } else normalized.prompt = prompt(b.prompt);
  const output = outputSpec(b, api);
  if (output !== undefined) normalized.output = output;
  return normalized;
}

/**
 * vLLM's `add_generation_prompt` (default true) and `continue_final_message` (default false), as vLLM
 * checks them: not both, and a message to continue that is the assistant's. Undefined for the defaults.
 */
function chatTemplate(b: Body, conversation: readonly ChatMessage[]): ChatTemplateOptions | undefined {
  const addGenerationPrompt = optionalBoolean(b, 'add_generation_prompt') ?? true;
  const continueFinalMessage = optionalBoolean(b, 'continue_final_message') ?? false;
  if (addGenerationPrompt && continueFinalMessage) {
    throw new InvalidRequestError(
      'continue_final_message and add_generation_prompt cannot both be true: set add_generation_prompt to false.',
      'continue_final_message',
    );
  }
  if (continueFinalMessage && conversation.at(-1)?.role !== 'assistant') {
    throw new InvalidRequestError(
      "continue_final_message needs the last message to be the assistant's, to continue.",
      'continue_final_message',
    );
  }
  return addGenerationPrompt ? undefined : { addGenerationPrompt, continueFinalMessage };
}

const STREAM_OPTIONS = new Set(['include_usage', 'continuous_usage_stats']);

/**
 * `stream_options`: OpenAI's `include_usage`, and vLLM's `continuous_usage_stats`, which (with
 * `include_usage`, as vLLM reads it) puts the usage so far on every chunk.
 */
function streamOptions(value: unknown, stream: boolean): Pick<NormalizedRequest, 'includeUsage' | 'continuousUsage'> {
  if (value === undefined || value === null) return { includeUsage: false, continuousUsage: false };
  if (typeof value !== 'object' || Array.isArray(value))
    throw new InvalidRequestError('stream_options must be an object.', 'stream_options');
  for (const key of Object.keys(value)) {
    if (!STREAM_OPTIONS.has(key)) throw unrecognizedArgument('stream_options', key);
  }
  const options = value as Body;
  const includeUsage = optionalBoolean(options, 'include_usage', 'stream_options.include_usage') ?? false;
  const continuous =
    optionalBoolean(options, 'continuous_usage_stats', 'stream_options.continuous_usage_stats') ?? false;
  if ((includeUsage || continuous) && !stream) {
    throw new InvalidRequestError('stream_options is only allowed when stream is true.', 'stream_options');
  }
  return { includeUsage, continuousUsage: includeUsage && continuous };
}

function sampling(b: Body, api: ApiKind): SamplingParams {
  const maxTokens =
    api === 'chat'
      ? (optionalInteger(b, 'max_completion_tokens', 1) ?? optionalInteger(b, 'max_tokens', 1))
      : optionalInteger(b, 'max_tokens', 1);
  const given: GivenSampling = {};
  const temperature = optionalNumber(b, 'temperature', 0, 2);
  const topP = optionalNumber(b, 'top_p', 0, 1);
  const presencePenalty = optionalNumber(b, 'presence_penalty', -2, 2);
  const frequencyPenalty = optionalNumber(b, 'frequency_penalty', -2, 2);
  const seed = optionalInteger(b, 'seed', Number.MIN_SAFE_INTEGER);
  if (temperature !== undefined) given.temperature = temperature;
  if (topP !== undefined) given.top_p = topP;
  if (presencePenalty !== undefined) given.presence_penalty = presencePenalty;
  if (frequencyPenalty !== undefined) given.frequency_penalty = frequencyPenalty;
  if (seed !== undefined) given.seed = seed;
  const effort = api === 'chat' ? reasoningEffort(b.reasoning_effort, 'reasoning_effort') : undefined;
  if (effort !== undefined) given.reasoning_effort = effort;
  return {
    maxTokens,
    temperature: temperature ?? 1,
    seed,
    stop: stop(b.stop),
    n: optionalInteger(b, 'n', 1, MAX_CHOICES) ?? 1,
    given,
  };
}

function messages(value: unknown): ChatMessage[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new InvalidRequestError('messages must be a non-empty array of messages.', 'messages');
  }
  // The ids of the tool calls of the assistant messages so far: a tool message answers one of them.
  const calledIds = new Set<string>();
  // As OpenAI: the tool messages right after an assistant's tool calls answer every one of them.
  let awaited: { param: string; ids: Set<string> } | undefined;
  const checked = value.map((message: unknown, i) => {
    const param = `messages[${i}]`;
    const role = (message as Body | null)?.role;
    if (awaited !== undefined && awaited.ids.size > 0 && role !== 'tool') throw unanswered(awaited);
    if (message === null || typeof message !== 'object')
      throw new InvalidRequestError(`${param} must be an object.`, param);
    const { content, tool_calls: toolCalls, tool_call_id: toolCallId, name, refusal } = message as Body;
    if (typeof role !== 'string' || !ROLES.has(role as ChatMessage['role'])) {
      throw new InvalidRequestError(`${param}.role must be one of ${[...ROLES].join(', ')}.`, `${param}.role`);
    }
    knownKeys(message as Body, MESSAGE_KEYS[role as ChatMessage['role']], param);
    for (const earlier of ['audio', 'function_call'] as const) {
      const value = (message as Body)[earlier];
      if (value !== undefined && value !== null) {
        throw unsupportedParameter(`${param}.${earlier}`, `${param}.${earlier} is not supported by this server.`);
      }
    }
    // An assistant's turn may be tool calls alone (its content null or absent); a tool's answer names the call it answers.
    const calls = role === 'assistant' ? messageToolCalls(toolCalls, `${param}.tool_calls`) : undefined;
    const callsOnly = calls !== undefined && calls.length > 0 && (content === null || content === undefined);
    const normalized: ChatMessage = {
      role: role as ChatMessage['role'],
      ...(callsOnly ? { content: '' } : messageContent(content, `${param}.content`, role === 'assistant', refusal)),
    };
    if (calls !== undefined && calls.length > 0) {
      normalized.tool_calls = calls;
      for (const call of calls) calledIds.add(call.id);
      awaited = { param, ids: new Set(calls.map((call) => call.id)) };
    }
    if (name !== undefined && name !== null) {
      if (typeof name !== 'string') throw new InvalidRequestError(`${param}.name must be a string.`, `${param}.name`);
      normalized.name = name;
    }
    if (role === 'tool') {
      if (typeof toolCallId !== 'string' || toolCallId.length === 0) {
        throw new InvalidRequestError(`${param}.tool_call_id is required for a tool message.`, `${param}.tool_call_id`);
      }
      // As OpenAI: a tool message is the answer to a call an earlier assistant message made.
      if (!calledIds.has(toolCallId)) {
        throw new InvalidRequestError(
          `${param}.tool_call_id: no assistant message before it has a tool call with the id '${fieldName(toolCallId)}'.`,
          `${param}.tool_call_id`,
        );
      }
      normalized.tool_call_id = toolCallId;
      awaited?.ids.delete(toolCallId);
    }
    return normalized;
  });
  if (awaited !== undefined && awaited.ids.size > 0) throw unanswered(awaited);
  return checked;
}

/** An assistant's tool calls that the tool messages after it leave unanswered. */
function unanswered({ param, ids }: { param: string; ids: Set<string> }): InvalidRequestError {
  const names = [...ids].map((id) => `'${fieldName(id)}'`).join(', ');
  return new InvalidRequestError(
    `${param}: an assistant message with tool_calls must be followed by tool messages answering each call; none answers ${names}.`,
    `${param}.tool_calls`,
  );
}

/**
 * A message's content: a string, or an array of `{ type: 'text', text }` parts, their texts joined by line
 * breaks (what vLLM gives its chat template) and kept. An assistant's earlier answer, sent back as the
 * API gave it, may be a refusal: a `{ type: 'refusal', refusal }` part, or its message's `refusal` with
 * no content; its text is then the message's text.
 */
function messageContent(
  content: unknown,
  param: string,
  assistant: boolean,
  refusal: unknown,
): Pick<ChatMessage, 'content' | 'parts'> {
  if (typeof content === 'string') return { content };
  if (content === null || content === undefined) {
    if (assistant && typeof refusal === 'string') return { content: refusal };
    throw new InvalidRequestError(
      assistant
        ? `${param} is required unless the message has tool_calls or a refusal.`
        : `${param} is required: a string or an array of text parts.`,
      param,
    );
  }
  if (Array.isArray(content)) {
    // As OpenAI: an empty array is refused, not taken as an empty message.
    if (content.length === 0) throw new InvalidRequestError(`${param} must hold at least one text part.`, param);
    const parts = content.map((part: unknown, i) => {
      const { type, text, refusal: refused } = (part ?? {}) as Body;
      if (assistant && type === 'refusal' && typeof refused === 'string') {
        knownKeys(part as Body, REFUSAL_PART_KEYS, `${param}[${i}]`);
        return refused;
      }
      if (type !== 'text' || typeof text !== 'string') {
        throw new InvalidRequestError(
          `${param}[${i}] must be a text part ({ "type": "text", "text": "..." }); other parts are not supported.`,
          `${param}[${i}]`,
        );
      }
      knownKeys(part as Body, TEXT_PART_KEYS, `${param}[${i}]`);
      return text;
    });
    return { content: parts.join('\n'), parts };
  }
  throw new InvalidRequestError(`${param} must be a string or an array of text parts.`, param);
}

/**
 * A completion's prompt in any of OpenAI's four shapes, as long as it is one prompt: a string, token ids,
 * or a batch of one of either (`["text"]`, `[[1, 2, 3]]`).
 */
function prompt(value: unknown): string | number[] {
  if (typeof value === 'string') return value;
  if (!Array.isArray(value)) throw new InvalidRequestError(PROMPT_SHAPE, 'prompt');
  if (value.length === 0) throw new InvalidRequestError('prompt must not be empty.', 'prompt');
  if (value.every(isTokenId)) return value;
  const batch = value.every((p) => typeof p === 'string') || value.every((p) => Array.isArray(p) && p.every(isTokenId));
  if (!batch) throw new InvalidRequestError(PROMPT_SHAPE, 'prompt');
  if (value.length > 1) {
    throw new InvalidRequestError('Batched prompts are not supported: send one prompt per request.', 'prompt');
  }
  const only = value[0]!;
  if (Array.isArray(only) && only.length === 0) throw new InvalidRequestError('prompt must not be empty.', 'prompt');
  return only;
}

const PROMPT_SHAPE = 'prompt must be a string, an array of token ids, or a batch of one of either.';

function isTokenId(value: unknown): value is number {
  return Number.isInteger(value) && (value as number) >= 0;
}

function stop(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  const list = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list) || list.length > 4 || list.some((s) => typeof s !== 'string' || s.length === 0)) {
    throw new InvalidRequestError('stop must be a non-empty string or an array of up to 4 non-empty strings.', 'stop');
  }
  return list as string[];
}

/** The body's `model`, which must be the one this server serves: another is OpenAI's 404 `model_not_found`. */
export function servedModelOf(b: Body, servedModel: string): string {
  const model = requiredString(b, 'model');
  if (model !== servedModel) {
    throw new InvalidRequestError(
      `The model \`${model}\` does not exist. This server serves \`${servedModel}\`.`,
      'model',
      404,
      'model_not_found',
    );
  }
  return model;
}

export function requiredString(b: Body, key: string): string {
  const value = b[key];
  if (typeof value !== 'string' || value.length === 0)
    throw new InvalidRequestError(`${key} is required and must be a string.`, key);
  return value;
}

export function optionalBoolean(b: Body, key: string, param = key): boolean | undefined {
  const value = b[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') throw new InvalidRequestError(`${param} must be a boolean.`, param);
  return value;
}

export function optionalNumber(b: Body, key: string, min: number, max: number): number | undefined {
  const value = b[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw new InvalidRequestError(`${key} must be a number from ${min} to ${max}.`, key);
  }
  return value;
}

export function optionalInteger(b: Body, key: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const value = b[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    // Past 2^53 a JSON number is no longer read exactly: two seeds there could be one.
    const range =
      max === Number.MAX_SAFE_INTEGER && min !== Number.MIN_SAFE_INTEGER ? `at least ${min}` : `from ${min} to ${max}`;
    throw new InvalidRequestError(`${key} must be a whole number ${range}.`, key);
  }
  return value;
}
