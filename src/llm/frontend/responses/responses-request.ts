import { InvalidRequestError } from '../../protocol/invalid-request.error.js';
import {
  fieldName,
  knownKeys,
  metadataOf,
  reasoningEffort,
  unrecognizedArgument,
  unsupportedParameter,
} from '../../protocol/openai-fields.js';
import type { ReasoningEffort } from '../../protocol/openai-fields.js';
import type { ChatMessage, ToolCall } from '../../protocol/pipeline.types.js';
import {
  optionalBoolean,
  optionalInteger,
  optionalNumber,
  requiredString,
} from '../../processor/openai-request.validator.js';

type Body = Record<string, unknown>;

/** A chat message as the chat/completions body carries it: its content a string or text parts. */
type ChatMessageBody = Pick<ChatMessage, 'role' | 'tool_calls' | 'tool_call_id'> & {
  content: string | ChatContentPart[];
};
type ChatContentPart = ChatTextPart | { type: 'refusal'; refusal: string };
interface ChatTextPart {
  type: 'text';
  text: string;
}

/** A function tool as a response echoes it. */
export interface FunctionToolSetting {
  type: 'function';
  name: string;
  description: string | null;
  parameters: Record<string, unknown> | null;
  strict: boolean | null;
}

/** `text.format` as a response echoes it. */
export type TextFormatSetting =
  | { type: 'text' }
  | { type: 'json_object' }
  | {
      type: 'json_schema';
      name: string;
      schema: Record<string, unknown>;
      description: string | null;
      strict: boolean | null;
    };

/** The request's settings a response object echoes, in the Responses API's names and shapes. */
export interface ResponseSettings {
  instructions: string | null;
  max_output_tokens: number | null;
  temperature: number;
  top_p: number;
  parallel_tool_calls: boolean;
  tools: FunctionToolSetting[];
  tool_choice: 'none' | 'auto' | 'required' | { type: 'function'; name: string };
  text_format: TextFormatSetting;
  top_logprobs: number;
  reasoning_effort: ReasoningEffort | null;
  metadata: Record<string, string>;
  user: string | null;
  safety_identifier: string | null;
  prompt_cache_key: string | null;
}

/** A Responses request as the pipeline serves it. */
export interface ResponsesRequest {
  /** The chat/completions body the Processor gets: the same generation, asked in its terms. */
  chat: Body;
  settings: ResponseSettings;
}

/** What `POST /v1/responses` can do, one parameter at a time; the rest are refused by name. */
const PARAMETERS = new Set([
  'model',
  'input',
  'instructions',
  'max_output_tokens',
  'temperature',
  'top_p',
  'stream',
  'stream_options',
  // Accepted where they ask for nothing this server would do differently.
  'store',
  'metadata',
  'user',
  'safety_identifier',
  'prompt_cache_key',
  'service_tier',
  'parallel_tool_calls',
  'truncation',
  'include',
  'background',
  'reasoning',
  'text',
  'tools',
  'tool_choice',
  'top_logprobs',
  'max_tool_calls',
  // Refused whenever set, since nothing is stored.
  'previous_response_id',
  'conversation',
  'prompt',
]);

const ROLES = new Set(['user', 'assistant', 'system', 'developer']);
const MESSAGE_KEYS = new Set(['type', 'role', 'content', 'id', 'status', 'phase']);
/** `parsed_arguments` and an output text's `parsed` are what the official client's `parse()` adds: taken, not read. */
const FUNCTION_CALL_KEYS = new Set(['type', 'call_id', 'name', 'arguments', 'id', 'status', 'parsed_arguments']);
const FUNCTION_OUTPUT_KEYS = new Set(['type', 'call_id', 'output', 'id', 'status']);
const REASONING_KEYS = new Set(['type', 'id', 'summary', 'content', 'encrypted_content', 'status']);
const TOOL_KEYS = new Set(['type', 'name', 'description', 'parameters', 'strict']);
/** Fields of a function tool OpenAI defines that this server cannot honour: accepted only unset or `false`. */
const IDLE_TOOL_KEYS = new Set(['defer_loading', 'async', 'allowed_callers', 'output_schema']);
const JSON_SCHEMA_KEYS = new Set(['type', 'name', 'schema', 'description', 'strict']);
/** OpenAI's limits: a function's or format's name, the tools of one request, `top_logprobs`. */
const NAME = /^[a-zA-Z0-9_-]{1,64}$/;
const MAX_TOOLS = 128;
const MAX_TOP_LOGPROBS = 20;
/** The one `include` entry this server can honour. */
const LOGPROBS_INCLUDE = 'message.output_text.logprobs';
const PART_KEYS: Record<string, ReadonlySet<string>> = {
  input_text: new Set(['type', 'text']),
  output_text: new Set(['type', 'text', 'annotations', 'logprobs', 'parsed']),
  refusal: new Set(['type', 'refusal']),
};

/**
 * Checks a Responses API body and translates it into the chat/completions body of the same
 * generation. Every problem is an InvalidRequestError naming the Responses parameter at fault (like
 * `input[2].content` or `max_output_tokens`); what this server cannot do is refused, never ignored.
 */
export function parseResponsesRequest(body: unknown): ResponsesRequest {
  if (!isObject(body)) throw new InvalidRequestError('The request body must be a JSON object.');
  for (const key of Object.keys(body)) {
    if (PARAMETERS.has(key)) continue;
    const name = fieldName(key);
    throw new InvalidRequestError(`Unrecognized request argument supplied: ${name}`, name, 400, 'unknown_parameter');
  }
  const model = requiredString(body, 'model');
  const stream = optionalBoolean(body, 'stream') ?? false;
  streamOptions(body.stream_options, stream);
  const instructions = optionalString(body, 'instructions');
  const maxOutputTokens = optionalInteger(body, 'max_output_tokens', 1);
  const temperature = optionalNumber(body, 'temperature', 0, 2);
  const topP = optionalNumber(body, 'top_p', 0, 1);
  refuseUnsupported(body);
  const output = outputOptions(body);
  const messages = inputMessages(body.input);
  if (instructions !== undefined) messages.unshift({ role: 'system', content: instructions });

  const chat: Body = { model, messages, stream, ...output.chat };
  if (maxOutputTokens !== undefined) chat.max_completion_tokens = maxOutputTokens;
  if (temperature !== undefined) chat.temperature = temperature;
  if (topP !== undefined) chat.top_p = topP;
  // The usage ends every Responses stream.
  if (stream) chat.stream_options = { include_usage: true };
  return {
    chat,
    settings: {
      instructions: instructions ?? null,
      max_output_tokens: maxOutputTokens ?? null,
      temperature: temperature ?? 1,
      top_p: topP ?? 1,
      parallel_tool_calls: optionalBoolean(body, 'parallel_tool_calls') ?? true,
      ...output.settings,
      metadata: metadataOf(body.metadata),
      user: optionalString(body, 'user') ?? null,
      safety_identifier: optionalString(body, 'safety_identifier') ?? null,
      prompt_cache_key: optionalString(body, 'prompt_cache_key') ?? null,
    },
  };
}

/**
 * `input` as chat messages: a string is one user message; a list holds input items. A `function_call`
 * item joins the assistant message before it (as chat's `tool_calls`), or starts one; a
 * `function_call_output` is a `tool` message, and must answer a call made earlier in the input.
 */
function inputMessages(input: unknown): ChatMessageBody[] {
  if (typeof input === 'string') return [{ role: 'user', content: input }];
  if (!Array.isArray(input) || input.length === 0) {
    throw new InvalidRequestError('input is required: a string, or a non-empty array of input items.', 'input');
  }
  const messages: ChatMessageBody[] = [];
  const calls = new Set<string>();
  // The calls no output has answered yet, with where each was made: OpenAI wants an output for every call.
  const unanswered = new Map<string, string>();
  input.forEach((item: unknown, i) => {
    const param = `input[${i}]`;
    if (!isObject(item)) throw new InvalidRequestError(`${param} must be an object.`, param);
    const type = item.type ?? 'message';
    if (type === 'function_call') {
      const call = functionCallItem(item, param);
      const last = messages.at(-1);
      if (last?.role === 'assistant') (last.tool_calls ??= []).push(call);
      else messages.push({ role: 'assistant', content: '', tool_calls: [call] });
      calls.add(call.id);
      unanswered.set(call.id, param);
    } else if (type === 'function_call_output') {
      const output = functionOutputItem(item, param, calls);
      unanswered.delete(output.tool_call_id!);
      messages.push(output);
    } else if (type === 'reasoning') {
      // An earlier answer's reasoning, sent back with its output: taken, not given to the model, whose chat
      // template leaves earlier turns' reasoning out, as chat has no field for it.
      reasoningItem(item, param);
    } else messages.push(inputItem(item, type, param));
  });
  if (messages.length === 0) {
    throw new InvalidRequestError(
      'input has no message: reasoning items alone give the model nothing to answer.',
      'input',
    );
  }
  for (const [callId, param] of unanswered)
    throw new InvalidRequestError(`No tool output found for function call ${callId}.`, `${param}.call_id`);
  return messages;
}

/** The parts a reasoning item sent back holds, by field: OpenAI's `summary_text` and `reasoning_text`. */
const REASONING_PARTS = { summary: 'summary_text', content: 'reasoning_text' } as const;
const REASONING_PART_KEYS = new Set(['type', 'text']);

/** A reasoning item as a previous response's `output` sends it back, checked as OpenAI reads one. */
function reasoningItem(item: Body, param: string): void {
  knownKeys(item, REASONING_KEYS, param);
  for (const [field, partType] of Object.entries(REASONING_PARTS)) {
    const parts = item[field];
    if (parts === undefined || (parts === null && field === 'content')) continue;
    const where = `${param}.${field}`;
    if (!Array.isArray(parts)) throw new InvalidRequestError(`${where} must be a list of ${partType} parts.`, where);
    parts.forEach((part: unknown, j) => {
      const at = `${where}[${j}]`;
      if (!isObject(part) || part.type !== partType || typeof part.text !== 'string')
        throw new InvalidRequestError(`${at} must be a ${partType} part: { type: '${partType}', text }.`, at);
      knownKeys(part, REASONING_PART_KEYS, at);
    });
  }
  const encrypted = item.encrypted_content;
  if (encrypted !== undefined && encrypted !== null && typeof encrypted !== 'string')
    throw new InvalidRequestError(`${param}.encrypted_content must be a string.`, `${param}.encrypted_content`);
}

/** One input item other than a tool call or its output, as a chat message, by its `type`. */
function inputItem(item: Body, type: unknown, param: string): ChatMessageBody {
  if (type === 'message') return messageItem(item, param);
  if (type === 'item_reference') {
    throw unsupportedParameter(
      `${param}.type`,
      'Input items of type `item_reference` cannot be used: no response is stored.',
    );
  }
  const named = typeof type === 'string' ? ` of type \`${type}\`` : ' of that type';
  throw unsupportedParameter(
    `${param}.type`,
    `Input items${named} are not supported; messages, \`reasoning\`, \`function_call\` and \`function_call_output\` are.`,
  );
}

function messageItem(item: Body, param: string): ChatMessageBody {
  knownKeys(item, MESSAGE_KEYS, param);
  const { role } = item;
  if (typeof role !== 'string' || !ROLES.has(role)) {
    throw new InvalidRequestError(`${param}.role must be one of ${[...ROLES].join(', ')}.`, `${param}.role`);
  }
  return { role: role as ChatMessage['role'], content: messageContent(item.content, role, `${param}.content`) };
}

/** A `function_call` item (a call the model made earlier) as chat's tool call. */
function functionCallItem(item: Body, param: string): ToolCall {
  knownKeys(item, FUNCTION_CALL_KEYS, param);
  const id = nonEmptyString(item.call_id, `${param}.call_id`);
  const name = nonEmptyString(item.name, `${param}.name`);
  if (typeof item.arguments !== 'string') {
    throw new InvalidRequestError(`${param}.arguments must be a string (JSON text).`, `${param}.arguments`);
  }
  return { id, type: 'function', function: { name, arguments: item.arguments } };
}

/** A `function_call_output` item as chat's `tool` message; its `output` a string or `input_text` parts. */
function functionOutputItem(item: Body, param: string, calls: ReadonlySet<string>): ChatMessageBody {
  knownKeys(item, FUNCTION_OUTPUT_KEYS, param);
  const callId = nonEmptyString(item.call_id, `${param}.call_id`);
  if (!calls.has(callId)) {
    throw new InvalidRequestError(
      `${param}.call_id: no function_call item before it has the call_id '${callId}'.`,
      `${param}.call_id`,
    );
  }
  const { output } = item;
  const content = typeof output === 'string' ? output : textParts(output, 'user', `${param}.output`);
  return { role: 'tool', content, tool_call_id: callId };
}

/** A message's content: a string, or text parts (`input_text`; `output_text` of an assistant's) as chat's. */
function messageContent(content: unknown, role: string, param: string): string | ChatContentPart[] {
  if (typeof content === 'string') return content;
  return textParts(content, role, param);
}

function textParts(content: unknown, role: string, param: string): ChatContentPart[] {
  if (!Array.isArray(content)) {
    throw new InvalidRequestError(`${param} must be a string or an array of text parts.`, param);
  }
  if (content.length === 0) throw new InvalidRequestError(`${param} must hold at least one text part.`, param);
  return content.map((part: unknown, i): ChatContentPart => {
    const partParam = `${param}[${i}]`;
    const { type, text, refusal }: Body = isObject(part) ? part : {};
    const keys = typeof type === 'string' ? PART_KEYS[type] : undefined;
    if (keys === undefined || (type !== 'input_text' && role !== 'assistant')) {
      const kind = role === 'assistant' ? '`output_text`, `refusal` or `input_text`' : '`input_text`';
      throw unsupportedParameter(
        partParam,
        `${partParam} must be a text part (${kind}); other content is not supported.`,
      );
    }
    knownKeys(part as Body, keys, partParam);
    // An earlier response's refusal, sent back as its output gave it: chat's refusal part.
    if (type === 'refusal') {
      if (typeof refusal !== 'string')
        throw new InvalidRequestError(`${partParam}.refusal must be a string.`, `${partParam}.refusal`);
      return { type: 'refusal', refusal };
    }
    if (typeof text !== 'string')
      throw new InvalidRequestError(`${partParam}.text must be a string.`, `${partParam}.text`);
    return { type: 'text', text };
  });
}

/**
 * The parameters accepted only with the values that ask for nothing this server does otherwise: every
 * other value is refused naming the parameter.
 */
function refuseUnsupported(b: Body): void {
  const set = (key: string) => b[key] !== undefined && b[key] !== null;
  optionalBoolean(b, 'store');
  optionalBoolean(b, 'parallel_tool_calls');
  for (const key of ['previous_response_id', 'conversation']) {
    if (set(key))
      throw unsupportedParameter(key, `${key} cannot be used: this server stores no response or conversation.`);
  }
  if (set('prompt'))
    throw unsupportedParameter('prompt', 'prompt cannot be used: this server stores no prompt templates.');
  if (optionalBoolean(b, 'background'))
    throw unsupportedParameter('background', 'background responses are not supported.');
  if (set('service_tier') && b.service_tier !== 'auto' && b.service_tier !== 'default') {
    throw unsupportedParameter('service_tier', 'service_tier must be `auto` or `default`; this server has one tier.');
  }
  if (set('truncation') && b.truncation !== 'disabled') {
    throw unsupportedParameter(
      'truncation',
      'truncation must be `disabled`: an input too long for the context is refused, never cut.',
    );
  }
  if (set('max_tool_calls')) {
    throw unsupportedParameter(
      'max_tool_calls',
      'max_tool_calls is not supported: a response holds the calls the model makes.',
    );
  }
}

/**
 * Tools, the output format and logprobs, checked in the Responses API's terms and asked for as chat
 * asks for them (`tools`, `tool_choice`, `parallel_tool_calls`, `response_format`, `logprobs`); with the
 * settings the response echoes. JSON Schemas are compiled by the Processor, whose refusals the
 * controller renames.
 */
function outputOptions(b: Body): { chat: Body; settings: Pick<ResponseSettings, OutputSetting> } {
  const chat: Body = {};
  const tools = functionTools(b.tools);
  const choice = toolChoice(b.tool_choice, tools);
  // Chat refuses tool settings without tools: with none, they ask for nothing.
  if (tools.length > 0) {
    chat.tools = tools.map(({ type, name, description, parameters, strict }) => ({
      type,
      function: {
        name,
        ...(description !== null && { description }),
        ...(parameters !== null && { parameters }),
        ...(strict !== null && { strict }),
      },
    }));
    chat.tool_choice = typeof choice === 'string' ? choice : { type: 'function', function: { name: choice.name } };
    const parallel = optionalBoolean(b, 'parallel_tool_calls');
    if (parallel !== undefined) chat.parallel_tool_calls = parallel;
  }
  const format = text(b.text);
  if (format.type === 'json_object') chat.response_format = { type: 'json_object' };
  if (format.type === 'json_schema') {
    const { name, schema, description, strict } = format;
    chat.response_format = {
      type: 'json_schema',
      json_schema: { name, schema, ...(description !== null && { description }), ...(strict !== null && { strict }) },
    };
  }
  const topLogprobs = optionalInteger(b, 'top_logprobs', 0, MAX_TOP_LOGPROBS) ?? 0;
  // As with OpenAI, the logprobs are in the output when `include` asks for them; `top_logprobs` says how many alternatives.
  if (include(b.include)) {
    chat.logprobs = true;
    chat.top_logprobs = topLogprobs;
  }
  const effort = reasoning(b.reasoning);
  if (effort !== undefined) chat.reasoning_effort = effort;
  return {
    chat,
    settings: {
      tools,
      tool_choice: choice,
      text_format: format,
      top_logprobs: topLogprobs,
      reasoning_effort: effort ?? null,
    },
  };
}

type OutputSetting = 'tools' | 'tool_choice' | 'text_format' | 'top_logprobs' | 'reasoning_effort';

/** `tools`: function tools only, each `{ type: 'function', name, description?, parameters?, strict? }`. */
function functionTools(value: unknown): FunctionToolSetting[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || value.length > MAX_TOOLS) {
    throw new InvalidRequestError(`tools must be an array of at most ${MAX_TOOLS} tools.`, 'tools');
  }
  const names = new Set<string>();
  return value.map((tool: unknown, i) => {
    const param = `tools[${i}]`;
    if (!isObject(tool)) throw new InvalidRequestError(`${param} must be an object.`, param);
    if (tool.type !== 'function') {
      const kind = typeof tool.type === 'string' ? `\`${tool.type}\`` : 'that type';
      throw unsupportedParameter(
        `${param}.type`,
        `Tools of ${kind} are not supported by this server: function tools are.`,
      );
    }
    for (const [key, setting] of Object.entries(tool)) {
      if (TOOL_KEYS.has(key)) continue;
      if (!IDLE_TOOL_KEYS.has(key)) {
        throw unrecognizedArgument(param, key);
      }
      if (setting !== null && setting !== undefined && setting !== false) {
        throw unsupportedParameter(`${param}.${key}`, `${param}.${key} is not supported by this server.`);
      }
    }
    const name = tool.name;
    if (typeof name !== 'string' || !NAME.test(name)) {
      throw new InvalidRequestError(
        `${param}.name must be 1 to 64 letters, digits, underscores or dashes.`,
        `${param}.name`,
      );
    }
    if (names.has(name))
      throw new InvalidRequestError(`${param}.name: another tool is named '${name}'.`, `${param}.name`);
    names.add(name);
    return {
      type: 'function',
      name,
      description: optionalString(tool, 'description', `${param}.description`) ?? null,
      parameters: optionalObject(tool.parameters, `${param}.parameters`) ?? null,
      strict: optionalBoolean(tool, 'strict', `${param}.strict`) ?? null,
    };
  });
}

/** `tool_choice`: `none`, `auto` (the default), `required`, or `{ type: 'function', name }` naming a tool. */
function toolChoice(value: unknown, tools: readonly FunctionToolSetting[]): ResponseSettings['tool_choice'] {
  if (value === undefined || value === null) return 'auto';
  if (value === 'none' || value === 'auto') return value;
  if (value === 'required') {
    if (tools.length === 0) {
      throw new InvalidRequestError("tool_choice 'required' is only allowed when tools are given.", 'tool_choice');
    }
    return value;
  }
  if (isObject(value) && value.type === 'function') {
    knownKeys(value, new Set(['type', 'name']), 'tool_choice');
    const { name } = value;
    if (typeof name !== 'string' || !tools.some((tool) => tool.name === name)) {
      throw new InvalidRequestError('tool_choice.name must name one of the function tools given.', 'tool_choice.name');
    }
    return { type: 'function', name };
  }
  if (isObject(value) && typeof value.type === 'string') {
    throw unsupportedParameter('tool_choice', `tool_choice of type \`${value.type}\` is not supported by this server.`);
  }
  throw new InvalidRequestError(
    'tool_choice must be \'none\', \'auto\', \'required\' or { "type": "function", "name": ... }.',
    'tool_choice',
  );
}

/** `include`: only the output's logprobs can be; true when they are. */
function include(value: unknown): boolean {
  if (value === undefined || value === null) return false;
  if (!Array.isArray(value)) throw new InvalidRequestError('include must be an array.', 'include');
  value.forEach((entry: unknown, i) => {
    if (entry !== LOGPROBS_INCLUDE) {
      throw unsupportedParameter(
        `include[${i}]`,
        `include[${i}] (\`${String(entry)}\`) is not supported: only \`${LOGPROBS_INCLUDE}\` can be included.`,
      );
    }
  });
  return value.length > 0;
}

/**
 * `reasoning`: its `effort`, asked of the model as chat's `reasoning_effort`. A summary of the reasoning
 * cannot be had: a model's reasoning comes whole, as `reasoning_text`.
 */
function reasoning(value: unknown): ReasoningEffort | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isObject(value)) throw new InvalidRequestError('reasoning must be an object.', 'reasoning');
  let effort: ReasoningEffort | undefined;
  for (const [key, setting] of Object.entries(value)) {
    if (key === 'effort') effort = reasoningEffort(setting, 'reasoning.effort');
    else if (key !== 'summary' && key !== 'generate_summary') throw unrecognizedArgument('reasoning', key);
    else if (setting !== null && setting !== undefined) {
      throw unsupportedParameter(
        `reasoning.${key}`,
        `reasoning.${key} cannot be set: a model's reasoning comes whole, as \`reasoning_text\`, not summarised.`,
      );
    }
  }
  return effort;
}

/** `text`: its `format` (`text`, `json_object` or `json_schema`) and `verbosity` (`medium` only). */
function text(value: unknown): TextFormatSetting {
  let format: TextFormatSetting = { type: 'text' };
  if (value === undefined || value === null) return format;
  if (!isObject(value)) throw new InvalidRequestError('text must be an object.', 'text');
  for (const [key, setting] of Object.entries(value)) {
    if (setting === undefined || setting === null) continue;
    if (key === 'format') {
      format = textFormat(setting);
    } else if (key === 'verbosity') {
      if (setting !== 'medium') throw unsupportedParameter('text.verbosity', 'text.verbosity must be `medium`.');
    } else {
      throw unrecognizedArgument('text', key);
    }
  }
  return format;
}

function textFormat(value: unknown): TextFormatSetting {
  if (!isObject(value) || typeof value.type !== 'string') {
    throw new InvalidRequestError('text.format must be an object with a `type`.', 'text.format');
  }
  const { type } = value;
  if (type === 'text' || type === 'json_object') {
    knownKeys(value, new Set(['type']), 'text.format');
    return { type };
  }
  if (type !== 'json_schema') {
    throw new InvalidRequestError(
      "text.format.type must be 'text', 'json_object' or 'json_schema'.",
      'text.format.type',
    );
  }
  knownKeys(value, JSON_SCHEMA_KEYS, 'text.format');
  const { name } = value;
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw new InvalidRequestError(
      'text.format.name must be 1 to 64 letters, digits, underscores or dashes.',
      'text.format.name',
    );
  }
  const schema = optionalObject(value.schema, 'text.format.schema');
  if (schema === undefined) throw new InvalidRequestError('text.format.schema is required.', 'text.format.schema');
  return {
    type,
    name,
    schema,
    description: optionalString(value, 'description', 'text.format.description') ?? null,
    strict: optionalBoolean(value, 'strict', 'text.format.strict') ?? null,
  };
}

/** Only `stream_options.include_obfuscation`, which changes nothing: no obfuscation is ever added. */
function streamOptions(value: unknown, stream: boolean): void {
  if (value === undefined || value === null) return;
  if (!stream) throw new InvalidRequestError('stream_options is only allowed when stream is true.', 'stream_options');
  if (!isObject(value)) throw new InvalidRequestError('stream_options must be an object.', 'stream_options');
  for (const key of Object.keys(value)) {
    if (key !== 'include_obfuscation') {
      throw unrecognizedArgument('stream_options', key);
    }
  }
  optionalBoolean(value, 'include_obfuscation', 'stream_options.include_obfuscation');
}

function optionalString(b: Body, key: string, param = key): string | undefined {
  const value = b[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new InvalidRequestError(`${param} must be a string.`, param);
  return value;
}

function optionalObject(value: unknown, param: string): Record<string, unknown> | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isObject(value)) throw new InvalidRequestError(`${param} must be a JSON Schema object.`, param);
  return value;
}

function nonEmptyString(value: unknown, param: string): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new InvalidRequestError(`${param} must be a non-empty string.`, param);
  }
  return value;
}

function isObject(value: unknown): value is Body {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
