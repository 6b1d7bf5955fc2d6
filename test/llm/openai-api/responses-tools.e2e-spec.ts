import OpenAI from 'openai';
import { zodResponseFormat } from 'openai/helpers/zod';
import { zodTextFormat } from 'openai/helpers/zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { expectOpenAIError } from '../../support/openai-api.js';
import { startPipelineWithClient } from '../../support/openai-clients.js';
import { expectValid, WEATHER_PARAMETERS } from '../../support/tool-schemas.js';
import type { PipelineApp } from '../../support/pipeline-app.js';
import { MODEL, send } from '../../support/requests.js';

/**
 * `POST /v1/responses` with tools, structured output and logprobs, through the official `openai` client:
 * function calls as `function_call` items (streamed as their own events), a tool round trip, JSON
 * output that `responses.parse` checks, logprobs on the text; each the same answer chat gives to the
 * same conversation. And the refusals, naming the Responses parameter.
 */

const RESPONSES = '/v1/responses';

let pipeline: PipelineApp;
let client: OpenAI;

beforeAll(async () => {
  ({ pipeline, client } = await startPipelineWithClient({ MOCKER_DECODE_MS_PER_TOKEN: '0' }));
});
afterAll(() => pipeline.close());

const WEATHER: OpenAI.Responses.FunctionTool = {
  type: 'function',
  name: 'get_weather',
  description: 'The weather in a city',
  parameters: WEATHER_PARAMETERS,
  strict: true,
};
const TIME: OpenAI.Responses.FunctionTool = {
  type: 'function',
  name: 'get_time',
  parameters: { type: 'object', properties: { zone: { type: 'string' } }, required: ['zone'] },
  strict: false,
};
/** The same tools as chat declares them. */
const CHAT_TOOLS: OpenAI.ChatCompletionFunctionTool[] = [WEATHER, TIME].map(
  ({ name, description, parameters, strict }) => ({
    type: 'function',
    function: { name, ...(description != null && { description }), parameters: parameters!, strict },
  }),
);
const QUESTION = 'What is the weather in Paris?';

function functionCalls(response: OpenAI.Responses.Response): OpenAI.Responses.ResponseFunctionToolCall[] {
  return response.output.filter((item) => item.type === 'function_call');
}

describe('function tools', () => {
  it("tool_choice required: one function_call item (fc_ id, call_id, arguments valid for the tool's schema)", async () => {
    const result = await client.responses.create(
      { model: MODEL, input: QUESTION, tools: [WEATHER, TIME], tool_choice: 'required' },
      { headers: { 'X-Request-Id': 'resp-tool-1' } },
    );
    expect(result.status).toBe('completed');
    expect(result.output).toHaveLength(1);
    const [call] = functionCalls(result);
    expect(call).toMatchObject({ id: 'fc_resp-tool-1', type: 'function_call', status: 'completed' });
    expect(call!.call_id).toMatch(/^call_[A-Za-z0-9]{24}$/);
    const tool = [WEATHER, TIME].find((t) => t.name === call!.name)!;
    expect(tool).toBeDefined();
    expectValid(tool.parameters!, JSON.parse(call!.arguments));
    expect(result.output_text).toBe('');
    expect(result.usage!.output_tokens).toBeGreaterThan(0);
    // The settings echoed, in the Responses API's shapes.
    expect(result.tool_choice).toBe('required');
    expect(result.tools).toEqual([{ ...WEATHER }, { ...TIME, description: null }]);
    // The same call chat makes for the same conversation and tools.
    const chat = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: QUESTION }],
      tools: CHAT_TOOLS,
      tool_choice: 'required',
    });
    const chatCall = chat.choices[0]!.message.tool_calls![0] as OpenAI.ChatCompletionMessageFunctionToolCall;
    expect({ name: call!.name, arguments: call!.arguments }).toEqual(chatCall.function);
    expect(result.usage!.output_tokens).toBe(chat.usage!.completion_tokens);
  });

  it('a named function: that tool is called', async () => {
    const result = await client.responses.create({
      model: MODEL,
      input: QUESTION,
      tools: [WEATHER, TIME],
      tool_choice: { type: 'function', name: 'get_time' },
      parallel_tool_calls: false,
    });
    const calls = functionCalls(result);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.name).toBe('get_time');
    expectValid(TIME.parameters!, JSON.parse(calls[0]!.arguments));
    expect(result.tool_choice).toEqual({ type: 'function', name: 'get_time' });
    expect(result.parallel_tool_calls).toBe(false);
  });

  it('tool_choice none: a text answer, as without tools', async () => {
    const result = await client.responses.create({
      model: MODEL,
      input: QUESTION,
      tools: [WEATHER],
      tool_choice: 'none',
    });
    expect(functionCalls(result)).toEqual([]);
    expect(result.output_text.length).toBeGreaterThan(0);
    expect(result.tool_choice).toBe('none');
  });

  it('streamed: output_item.added, arguments deltas, arguments done, output_item.done; the same call', async () => {
    const body: OpenAI.Responses.ResponseCreateParamsNonStreaming = {
      model: MODEL,
      input: QUESTION,
      tools: [WEATHER],
      tool_choice: 'required',
    };
    const reference = await client.responses.create(body);
    const stream = await client.responses.create(
      { ...body, stream: true },
      { headers: { 'X-Request-Id': 'resp-tool-sse' } },
    );
    const events: OpenAI.Responses.ResponseStreamEvent[] = [];
    for await (const event of stream) events.push(event);
    expect(events.map((event) => event.sequence_number)).toEqual(events.map((_, i) => i));
    const deltas = events.filter((event) => event.type === 'response.function_call_arguments.delta');
    expect(deltas.length).toBeGreaterThan(1);
    expect(events.map((event) => event.type)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      ...deltas.map(() => 'response.function_call_arguments.delta'),
      'response.function_call_arguments.done',
      'response.output_item.done',
      'response.completed',
    ]);
    const [expected] = functionCalls(reference);
    const added = events[2] as OpenAI.Responses.ResponseOutputItemAddedEvent;
    expect(added.output_index).toBe(0);
    expect(added.item).toEqual({
      id: 'fc_resp-tool-sse',
      type: 'function_call',
      status: 'in_progress',
      arguments: '',
      call_id: expect.stringMatching(/^call_/) as string,
      name: expected!.name,
    });
    for (const delta of deltas) expect(delta).toMatchObject({ item_id: 'fc_resp-tool-sse', output_index: 0 });
    const args = deltas.map((delta) => delta.delta).join('');
    expect(args).toBe(expected!.arguments);
    const done = events.find((event) => event.type === 'response.function_call_arguments.done');
    expect(done).toMatchObject({ item_id: 'fc_resp-tool-sse', output_index: 0, arguments: args });
    const itemDone = events.at(-2) as OpenAI.Responses.ResponseOutputItemDoneEvent;
    expect(itemDone.item).toEqual({ ...added.item, status: 'completed', arguments: args });
    const completed = events.at(-1) as OpenAI.Responses.ResponseCompletedEvent;
    expect(completed.response.output).toEqual([itemDone.item]);
    expect(completed.response.usage).toEqual(reference.usage);
  });

  it('the stream helper: finalResponse() holds the call, and the arguments events reach their listeners', async () => {
    const stream = client.responses.stream({
      model: MODEL,
      input: QUESTION,
      tools: [WEATHER],
      tool_choice: { type: 'function', name: 'get_weather' },
    });
    let args = '';
    stream.on('response.function_call_arguments.delta', (event) => (args += event.delta));
    const final = await stream.finalResponse();
    const [call] = functionCalls(final);
    expect(call!.arguments).toBe(args);
    expectValid(WEATHER_PARAMETERS, JSON.parse(args));
  });

  it('a round trip: the call sent back as it came, with its output, gives the text chat gives', async () => {
    const first = await client.responses.create({
      model: MODEL,
      input: QUESTION,
      tools: [WEATHER],
      tool_choice: 'required',
    });
    const [call] = functionCalls(first);
    // As the client's parse() gives a call: with `parsed_arguments`, which is taken and not read.
    const parsedCall = { ...call!, parsed_arguments: JSON.parse(call!.arguments) as unknown };
    const second = await client.responses.create({
      model: MODEL,
      input: [
        { role: 'user', content: QUESTION },
        parsedCall,
        { type: 'function_call_output', call_id: call!.call_id, output: '{"temperature":21}' },
      ],
      tools: [WEATHER],
    });
    expect(second.status).toBe('completed');
    expect(functionCalls(second)).toEqual([]);
    expect(second.output_text.length).toBeGreaterThan(0);
    const chat = await client.chat.completions.create({
      model: MODEL,
      messages: [
        { role: 'user', content: QUESTION },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: call!.call_id, type: 'function', function: { name: call!.name, arguments: call!.arguments } },
          ],
        },
        { role: 'tool', tool_call_id: call!.call_id, content: '{"temperature":21}' },
      ],
      tools: [CHAT_TOOLS[0]!],
    });
    expect(second.output_text).toBe(chat.choices[0]!.message.content);
    expect(second.usage!.input_tokens).toBe(chat.usage!.prompt_tokens);
    // An output given as text parts is their texts joined by a line break, as a message's parts are.
    const withOutput = (output: string | Array<{ type: 'input_text'; text: string }>) =>
      client.responses.create({
        model: MODEL,
        input: [
          { role: 'user', content: QUESTION },
          { type: 'function_call', call_id: call!.call_id, name: call!.name, arguments: call!.arguments },
          { type: 'function_call_output', call_id: call!.call_id, output },
        ],
        tools: [WEATHER],
      });
    const parts = await withOutput([
      { type: 'input_text', text: '{"temperature":' },
      { type: 'input_text', text: '21}' },
    ]);
    const joined = await withOutput('{"temperature":\n21}');
    expect(parts.output_text).toBe(joined.output_text);
    expect(parts.usage!.input_tokens).toBe(joined.usage!.input_tokens);
  });
});

describe('structured output', () => {
  const Person = z.object({ name: z.string(), age: z.number().int().min(0).max(120), tags: z.array(z.string()) });

  it('responses.parse with zodTextFormat: output_parsed fits the schema, and equals chat.completions.parse', async () => {
    const input = 'Describe a person.';
    const parsed = await client.responses.parse({
      model: MODEL,
      input,
      text: { format: zodTextFormat(Person, 'person') },
    });
    expect(parsed.status).toBe('completed');
    expect(Person.parse(parsed.output_parsed)).toEqual(parsed.output_parsed);
    expect(JSON.parse(parsed.output_text)).toEqual(parsed.output_parsed);
    expect(parsed.text!.format).toMatchObject({ type: 'json_schema', name: 'person', strict: true });
    const chat = await client.chat.completions.parse({
      model: MODEL,
      messages: [{ role: 'user', content: input }],
      response_format: zodResponseFormat(Person, 'person'),
    });
    expect(parsed.output_parsed).toEqual(chat.choices[0]!.message.parsed);
    // Its output sent back as parse() gives it, `parsed` on the text part included.
    const sentBack = parsed.output as unknown as OpenAI.Responses.ResponseInputItem[];
    expect(JSON.stringify(sentBack)).toContain('"parsed"');
    const next = await client.responses.create({
      model: MODEL,
      input: [{ role: 'user', content: input }, ...sentBack, { role: 'user', content: 'Another one.' }],
    });
    expect(next.status).toBe('completed');
  });

  it('streamed JSON: output_text deltas that join into the same JSON', async () => {
    const format = zodTextFormat(Person, 'person');
    const whole = await client.responses.create({ model: MODEL, input: 'Someone else.', text: { format } });
    const stream = await client.responses.create({
      model: MODEL,
      input: 'Someone else.',
      text: { format },
      stream: true,
    });
    let text = '';
    for await (const event of stream) if (event.type === 'response.output_text.delta') text += event.delta;
    expect(text).toBe(whole.output_text);
    expect(Person.parse(JSON.parse(text))).toBeTruthy();
  });

  it('json_object: a JSON object as output_text', async () => {
    const result = await client.responses.create({
      model: MODEL,
      input: 'Answer in JSON.',
      text: { format: { type: 'json_object' } },
    });
    const value = JSON.parse(result.output_text) as unknown;
    expect(typeof value).toBe('object');
    expect(Array.isArray(value)).toBe(false);
    expect(result.text!.format).toEqual({ type: 'json_object' });
  });
});

describe('logprobs', () => {
  const input = 'tell me a story';
  const include: OpenAI.Responses.ResponseIncludable[] = ['message.output_text.logprobs'];

  it("include message.output_text.logprobs with top_logprobs: the part's logprobs are chat's", async () => {
    const result = await client.responses.create({ model: MODEL, input, include, top_logprobs: 3 });
    const message = result.output[0] as OpenAI.Responses.ResponseOutputMessage;
    const text = message.content[0] as OpenAI.Responses.ResponseOutputText;
    const chat = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: input }],
      logprobs: true,
      top_logprobs: 3,
    });
    expect(text.logprobs).toEqual(chat.choices[0]!.logprobs!.content);
    expect(text.logprobs!.map((entry) => entry.token).join('')).toBe(text.text);
    expect(text.logprobs![0]!.top_logprobs).toHaveLength(3);
    expect(result.top_logprobs).toBe(3);
  });

  it('streamed: each output_text.delta has the logprobs of its tokens, without bytes; done has them all', async () => {
    const whole = await client.responses.create({ model: MODEL, input, include, top_logprobs: 2 });
    const part = (whole.output[0] as OpenAI.Responses.ResponseOutputMessage)
      .content[0] as OpenAI.Responses.ResponseOutputText;
    const withoutBytes = part.logprobs!.map(({ token, logprob, top_logprobs }) => ({
      token,
      logprob,
      top_logprobs: top_logprobs.map((alt) => ({ token: alt.token, logprob: alt.logprob })),
    }));
    const stream = await client.responses.create({ model: MODEL, input, include, top_logprobs: 2, stream: true });
    const deltas: OpenAI.Responses.ResponseTextDeltaEvent[] = [];
    let done: OpenAI.Responses.ResponseTextDoneEvent | undefined;
    let completed: OpenAI.Responses.Response | undefined;
    for await (const event of stream) {
      if (event.type === 'response.output_text.delta') deltas.push(event);
      if (event.type === 'response.output_text.done') done = event;
      if (event.type === 'response.completed') completed = event.response;
    }
    for (const delta of deltas) expect(delta.logprobs.map((entry) => entry.token).join('')).toBe(delta.delta);
    expect(deltas.flatMap((delta) => delta.logprobs)).toEqual(withoutBytes);
    expect(done!.logprobs).toEqual(withoutBytes);
    expect(completed!.output).toEqual(whole.output.map((item) => ({ ...item, id: completed!.output[0]!.id })));
  });

  it('without include, no logprobs (top_logprobs alone asks for none, as with OpenAI)', async () => {
    const result = await client.responses.create({ model: MODEL, input, top_logprobs: 3 });
    const message = result.output[0] as OpenAI.Responses.ResponseOutputMessage;
    expect((message.content[0] as OpenAI.Responses.ResponseOutputText).logprobs).toEqual([]);
  });
});

describe('refused, naming the Responses parameter', () => {
  const fn = (extra: Record<string, unknown> = {}) => ({ type: 'function', name: 'f', parameters: {}, ...extra });
  const cases: Array<[string, string, string, Record<string, unknown>]> = [
    ['a web_search tool', 'tools[0].type', 'unsupported_parameter', { tools: [{ type: 'web_search' }] }],
    [
      'a file_search tool after a function',
      'tools[1].type',
      'unsupported_parameter',
      { tools: [fn(), { type: 'file_search', vector_store_ids: ['v'] }] },
    ],
    [
      'a tool nested as chat writes it',
      'tools[0].function',
      'unknown_parameter',
      { tools: [{ type: 'function', function: { name: 'f' } }] },
    ],
    ['a bad function name', 'tools[0].name', 'invalid_request_error', { tools: [fn({ name: 'no spaces' })] }],
    ['two tools of one name', 'tools[1].name', 'invalid_request_error', { tools: [fn(), fn()] }],
    [
      'parameters that do not compile',
      'tools[0].parameters',
      'invalid_request_error',
      { tools: [fn({ parameters: { type: 'nonsense' } })] },
    ],
    ['deferred loading', 'tools[0].defer_loading', 'unsupported_parameter', { tools: [fn({ defer_loading: true })] }],
    ['tool_choice required without tools', 'tool_choice', 'invalid_request_error', { tool_choice: 'required' }],
    [
      'tool_choice naming no tool',
      'tool_choice.name',
      'invalid_request_error',
      { tools: [fn()], tool_choice: { type: 'function', name: 'g' } },
    ],
    [
      'tool_choice of a hosted tool',
      'tool_choice',
      'unsupported_parameter',
      { tools: [fn()], tool_choice: { type: 'file_search' } },
    ],
    ['max_tool_calls', 'max_tool_calls', 'unsupported_parameter', { tools: [fn()], max_tool_calls: 2 }],
    ['a format type', 'text.format.type', 'invalid_request_error', { text: { format: { type: 'xml' } } }],
    [
      'a json_schema without a name',
      'text.format.name',
      'invalid_request_error',
      { text: { format: { type: 'json_schema', schema: {} } } },
    ],
    [
      'a json_schema that does not compile',
      'text.format.schema',
      'invalid_request_error',
      { text: { format: { type: 'json_schema', name: 'x', schema: { type: 7 } } } },
    ],
    [
      'a json_schema no value fits',
      'text.format.schema',
      'invalid_request_error',
      { text: { format: { type: 'json_schema', name: 'x', schema: { type: 'string', minLength: 3, maxLength: 2 } } } },
    ],
    ['top_logprobs 21', 'top_logprobs', 'invalid_request_error', { top_logprobs: 21 }],
    [
      'another include',
      'include[1]',
      'unsupported_parameter',
      { include: ['message.output_text.logprobs', 'reasoning.encrypted_content'] },
    ],
    [
      'an output for no call',
      'input[1].call_id',
      'invalid_request_error',
      {
        input: [
          { role: 'user', content: 'hi' },
          { type: 'function_call_output', call_id: 'call_1', output: 'x' },
        ],
      },
    ],
    [
      'a call no output answers',
      'input[1].call_id',
      'invalid_request_error',
      {
        input: [
          { role: 'user', content: 'hi' },
          { type: 'function_call', call_id: 'call_1', name: 'f', arguments: '{}' },
          { role: 'user', content: 'and?' },
        ],
      },
    ],
    [
      'a call without arguments',
      'input[0].arguments',
      'invalid_request_error',
      { input: [{ type: 'function_call', call_id: 'c', name: 'f' }] },
    ],
    [
      'an image as a call output',
      'input[1].output[0]',
      'unsupported_parameter',
      {
        input: [
          { type: 'function_call', call_id: 'c', name: 'f', arguments: '{}' },
          {
            type: 'function_call_output',
            call_id: 'c',
            output: [{ type: 'input_image', image_url: 'https://example.com/a.png' }],
          },
        ],
      },
    ],
  ];
  it.each(cases)('%s: 400 naming `%s`', async (_, param, code, extra) => {
    for (const stream of [false, true]) {
      const res = await send(pipeline.url, RESPONSES, { model: MODEL, input: 'hi', ...extra, stream });
      const error = expectOpenAIError(res, 400, { param, code });
      // The message names the parameter as the client wrote it, never chat's name for it.
      expect(error.message).not.toMatch(/function\.parameters|response_format|json_schema\.schema/);
    }
  });
});
