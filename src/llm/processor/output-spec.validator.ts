import { compileSchema } from '../protocol/json-schema.js';
import { InvalidRequestError } from '../protocol/invalid-request.error.js';
import { knownKeys, unsupportedParameter } from '../protocol/openai-fields.js';
import type {
  ApiKind,
  ChatTool,
  OutputSpec,
  ResponseFormat,
  ToolCall,
  ToolChoice,
} from '../protocol/pipeline.types.js';

type Body = Record<string, unknown>;

/** OpenAI's limits: a function's name, the tools of one request, top_logprobs (chat) and logprobs (completions). */
const NAME = /^[a-zA-Z0-9_-]{1,64}$/;
const MAX_TOOLS = 128;
const MAX_TOP_LOGPROBS = 20;
const MAX_COMPLETION_LOGPROBS = 5;
/**
 * The fields OpenAI defines on each object of tools and structured output. A tool call sent back may
 * also hold its `index` (as a stream's deltas gave it) and `parsed_arguments` (which the official
 * client's `parse()` adds: the arguments again, not read).
 */
const TOOL_KEYS = new Set(['type', 'function']);
const FUNCTION_KEYS = new Set(['name', 'description', 'parameters', 'strict']);
const TOOL_CALL_KEYS = new Set(['id', 'type', 'function', 'index']);
const TOOL_CALL_FUNCTION_KEYS = new Set(['name', 'arguments', 'parsed_arguments']);
const TOOL_CHOICE_KEYS = new Set(['type', 'function']);
const NAME_KEYS = new Set(['name']);
const FORMAT_KEYS = new Set(['type']);
const JSON_SCHEMA_FORMAT_KEYS = new Set(['type', 'json_schema']);
const JSON_SCHEMA_KEYS = new Set(['name', 'description', 'schema', 'strict']);

/**
 * Tools, structured output and logprobs of a chat or completions body, checked and kept in OpenAI's
 * shapes (only the fields OpenAI defines); `undefined` when the body asks for none of them. JSON
 * Schemas are compiled, so that one which does not compile is refused here, naming where it is.
 */
export function outputSpec(b: Body, api: ApiKind): OutputSpec | undefined {
  const output: OutputSpec = {};
  if (api === 'chat') {
    const tools = toolList(b.tools);
    if (tools !== undefined) output.tools = tools;
    const choice = toolChoice(b.tool_choice, tools);
    if (choice !== undefined) output.tool_choice = choice;
    const parallel = optionalBoolean(b.parallel_tool_calls, 'parallel_tool_calls');
    if (parallel !== undefined) output.parallel_tool_calls = parallel;
    const format = responseFormat(b.response_format);
    if (format !== undefined) output.response_format = format;
    const logprobs = optionalBoolean(b.logprobs, 'logprobs') ?? false;
    const top = optionalInteger(b.top_logprobs, 'top_logprobs', 0, MAX_TOP_LOGPROBS);
    if (top !== undefined && !logprobs) {
      throw new InvalidRequestError('top_logprobs is only allowed when logprobs is true.', 'top_logprobs');
    }
    if (logprobs) output.top_logprobs = top ?? 0;
  } else {
    const logprobs = optionalInteger(b.logprobs, 'logprobs', 0, MAX_COMPLETION_LOGPROBS);
    if (logprobs !== undefined) output.top_logprobs = logprobs;
  }
  return Object.keys(output).length > 0 ? output : undefined;
}

/** An assistant message's `tool_calls`, checked and kept in OpenAI's shape. */
export function messageToolCalls(value: unknown, param: string): ToolCall[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) throw new InvalidRequestError(`${param} must be an array of tool calls.`, param);
  return value.map((call: unknown, i) => {
    const at = `${param}[${i}]`;
    const { id, type, function: fn } = object(call, at);
    knownKeys(call as Body, TOOL_CALL_KEYS, at);
    if (typeof id !== 'string' || id.length === 0)
      throw new InvalidRequestError(`${at}.id must be a non-empty string.`, `${at}.id`);
    if (type !== 'function') throw new InvalidRequestError(`${at}.type must be 'function'.`, `${at}.type`);
    const { name, arguments: args } = object(fn, `${at}.function`);
    knownKeys(fn as Body, TOOL_CALL_FUNCTION_KEYS, `${at}.function`);
    if (typeof name !== 'string' || name.length === 0)
      throw new InvalidRequestError(`${at}.function.name must be a non-empty string.`, `${at}.function.name`);
    if (typeof args !== 'string')
      throw new InvalidRequestError(`${at}.function.arguments must be a string.`, `${at}.function.arguments`);
    return { id, type: 'function', function: { name, arguments: args } };
  });
}

function toolList(value: unknown): ChatTool[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_TOOLS) {
    throw new InvalidRequestError(`tools must be an array of 1 to ${MAX_TOOLS} tools.`, 'tools');
  }
  const names = new Set<string>();
  return value.map((tool: unknown, i) => {
    const at = `tools[${i}]`;
    const { type, function: fn } = object(tool, at);
    if (type !== 'function') {
      throw unsupportedParameter(`${at}.type`, `${at}.type must be 'function': other tools are not supported.`);
    }
    knownKeys(tool as Body, TOOL_KEYS, at);
    const { name, description, parameters, strict } = object(fn, `${at}.function`);
    knownKeys(fn as Body, FUNCTION_KEYS, `${at}.function`);
    if (typeof name !== 'string' || !NAME.test(name)) {
      throw new InvalidRequestError(
        `${at}.function.name must be 1 to 64 letters, digits, underscores or dashes.`,
        `${at}.function.name`,
      );
    }
    if (names.has(name)) {
      throw new InvalidRequestError(`${at}.function.name: another tool is named '${name}'.`, `${at}.function.name`);
    }
    names.add(name);
    const checked: ChatTool['function'] = { name };
    if (description !== undefined && description !== null) {
      if (typeof description !== 'string')
        throw new InvalidRequestError(`${at}.function.description must be a string.`, `${at}.function.description`);
      checked.description = description;
    }
    if (parameters !== undefined && parameters !== null) {
      checked.parameters = argumentsSchema(parameters, `${at}.function.parameters`);
    }
    const strictness = optionalBoolean(strict, `${at}.function.strict`);
    if (strictness !== undefined) checked.strict = strictness;
    return { type: 'function', function: checked };
  });
}

/**
 * A tool's `parameters`: a JSON Schema of the object its arguments are, as OpenAI requires (one without
 * `type`, `{}` say, is taken as an object's). A call's arguments are always a JSON object.
 */
function argumentsSchema(value: unknown, param: string): Record<string, unknown> {
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidRequestError(`${param} must be a JSON Schema object.`, param);
  }
  compileSchema(value, param);
  const { type } = value as Body;
  if (type !== undefined && type !== 'object') {
    throw new InvalidRequestError(
      `${param} must be the JSON Schema of an object (a tool's arguments are one), not of type ${JSON.stringify(type)}.`,
      param,
    );
  }
  return type === undefined ? { properties: {}, ...(value as Body), type: 'object' } : (value as Body);
}

function toolChoice(value: unknown, tools: ChatTool[] | undefined): ToolChoice | undefined {
  if (value === undefined || value === null) return undefined;
  if (value === 'none' || value === 'auto' || value === 'required') {
    if (value !== 'none' && tools === undefined) {
      throw new InvalidRequestError(`tool_choice '${value}' is only allowed when tools are given.`, 'tool_choice');
    }
    return value;
  }
  if (typeof value === 'object' && !Array.isArray(value)) {
    const { type, function: fn } = value as Body;
    if (type === 'function') {
      knownKeys(value as Body, TOOL_CHOICE_KEYS, 'tool_choice');
      const { name } = object(fn, 'tool_choice.function');
      knownKeys(fn as Body, NAME_KEYS, 'tool_choice.function');
      if (typeof name !== 'string' || !tools?.some((tool) => tool.function.name === name)) {
        throw new InvalidRequestError(
          `tool_choice.function.name must name one of the tools given.`,
          'tool_choice.function.name',
        );
      }
      return { type: 'function', function: { name } };
    }
    if (type === 'allowed_tools' || type === 'custom') {
      throw unsupportedParameter('tool_choice', `tool_choice of type '${type}' is not supported by this server.`);
    }
  }
  throw new InvalidRequestError(
    'tool_choice must be \'none\', \'auto\', \'required\' or { "type": "function", "function": { "name": ... } }.',
    'tool_choice',
  );
}

function responseFormat(value: unknown): ResponseFormat | undefined {
  if (value === undefined || value === null) return undefined;
  const { type, json_schema: spec } = object(value, 'response_format');
  if (type === 'text' || type === 'json_object') {
    knownKeys(value as Body, FORMAT_KEYS, 'response_format');
    return { type };
  }
  if (type !== 'json_schema') {
    throw new InvalidRequestError(
      "response_format.type must be 'text', 'json_object' or 'json_schema'.",
      'response_format.type',
    );
  }
  knownKeys(value as Body, JSON_SCHEMA_FORMAT_KEYS, 'response_format');
  const { name, description, schema, strict } = object(spec, 'response_format.json_schema');
  knownKeys(spec as Body, JSON_SCHEMA_KEYS, 'response_format.json_schema');
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw new InvalidRequestError(
      'response_format.json_schema.name must be 1 to 64 letters, digits, underscores or dashes.',
      'response_format.json_schema.name',
    );
  }
  const checked: Extract<ResponseFormat, { type: 'json_schema' }>['json_schema'] = { name };
  if (description !== undefined && description !== null) {
    if (typeof description !== 'string') {
      throw new InvalidRequestError(
        'response_format.json_schema.description must be a string.',
        'response_format.json_schema.description',
      );
    }
    checked.description = description;
  }
  if (schema !== undefined && schema !== null) {
    compileSchema(schema, 'response_format.json_schema.schema');
    checked.schema = schema as Record<string, unknown>;
  }
  const strictness = optionalBoolean(strict, 'response_format.json_schema.strict');
  if (strictness !== undefined) checked.strict = strictness;
  return { type: 'json_schema', json_schema: checked };
}

function object(value: unknown, param: string): Body {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidRequestError(`${param} must be an object.`, param);
  }
  return value as Body;
}

function optionalBoolean(value: unknown, param: string): boolean | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') throw new InvalidRequestError(`${param} must be a boolean.`, param);
  return value;
}

function optionalInteger(value: unknown, param: string, min: number, max: number): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidRequestError(`${param} must be a whole number from ${min} to ${max}.`, param);
  }
  return value;
}
