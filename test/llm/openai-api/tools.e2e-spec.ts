import OpenAI from 'openai';
import { zodResponseFormat } from 'openai/helpers/zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { expectOpenAIError, postJson, postStream } from '../../support/openai-api.js';
import { startPipelineWithClient } from '../../support/openai-clients.js';
import { expectValid, WEATHER_PARAMETERS } from '../../support/tool-schemas.js';
import type { PipelineApp } from '../../support/pipeline-app.js';
import { CHAT, COMPLETIONS, MODEL, send } from '../../support/requests.js';

/**
 * Tools, structured output and logprobs through the official `openai` client and raw requests: the
 * mocker does what each parameter asks (a tool call whose arguments fit the tool's schema, JSON that
 * fits the response format, logprobs of the tokens it sent) or the request is refused.
 */

let pipeline: PipelineApp;
let client: OpenAI;

beforeAll(async () => {
  ({ pipeline, client } = await startPipelineWithClient({ MOCKER_DECODE_MS_PER_TOKEN: '0' }));
});
afterAll(() => pipeline.close());

const WEATHER: OpenAI.ChatCompletionFunctionTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'The weather in a city',
    parameters: WEATHER_PARAMETERS,
    strict: true,
  },
};
const TIME: OpenAI.ChatCompletionFunctionTool = {
  type: 'function',
  function: {
    name: 'get_time',
    parameters: {
      type: 'object',
      properties: { zone: { type: 'string', pattern: '^[A-Z][a-z]+/[A-Z][a-z]+$' } },
      required: ['zone'],
    },
  },
};
const ASK: OpenAI.ChatCompletionMessageParam[] = [{ role: 'user', content: 'What is the weather in Paris?' }];

describe('tool calls', () => {
  it('tool_choice required: a tool call whose arguments are valid JSON for its schema, finish_reason tool_calls', async () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const result = await client.chat.completions.create({
        model: MODEL,
        messages: ASK,
        tools: [WEATHER, TIME],
        tool_choice: 'required',
        seed,
      });
      const choice = result.choices[0]!;
      expect(choice.finish_reason).toBe('tool_calls');
      expect(choice.message.content).toBeNull();
      expect(choice.message.tool_calls).toHaveLength(1);
      const call = choice.message.tool_calls![0]! as OpenAI.ChatCompletionMessageFunctionToolCall;
      expect(call.type).toBe('function');
      expect(call.id).toMatch(/^call_[A-Za-z0-9]{24}$/);
      const tool = [WEATHER, TIME].find((t) => t.function.name === call.function.name)!;
      expect(tool).toBeDefined();
      expectValid(tool.function.parameters!, JSON.parse(call.function.arguments));
      // The arguments are output tokens, counted as such.
      expect(result.usage!.completion_tokens).toBeGreaterThan(0);
    }
  });

  it('the same prompt and seed give the same call', async () => {
    const ask = () =>
      client.chat.completions.create({
        model: MODEL,
        messages: ASK,
        tools: [WEATHER],
        tool_choice: 'required',
        seed: 9,
      });
    const [a, b] = await Promise.all([ask(), ask()]);
    expect(a.choices[0]!.message.tool_calls).toEqual(b.choices[0]!.message.tool_calls);
  });

  it('a tool whose parameters are {} or absent is called with an object, {}', async () => {
    const tools: OpenAI.ChatCompletionFunctionTool[] = [
      { type: 'function', function: { name: 'no_schema' } },
      { type: 'function', function: { name: 'empty_schema', parameters: {} } },
    ];
    for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
      const result = await client.chat.completions.create({
        model: MODEL,
        messages: ASK,
        tools,
        tool_choice: 'required',
        seed,
      });
      const call = result.choices[0]!.message.tool_calls![0]! as OpenAI.ChatCompletionMessageFunctionToolCall;
      expect(JSON.parse(call.function.arguments)).toEqual({});
    }
  });

  it('a named tool_choice calls that tool', async () => {
    for (const seed of [1, 2, 3]) {
      const result = await client.chat.completions.create({
        model: MODEL,
        messages: ASK,
        tools: [WEATHER, TIME],
        tool_choice: { type: 'function', function: { name: 'get_time' } },
        seed,
      });
      const call = result.choices[0]!.message.tool_calls![0]! as OpenAI.ChatCompletionMessageFunctionToolCall;
      expect(call.function.name).toBe('get_time');
      expectValid(TIME.function.parameters!, JSON.parse(call.function.arguments));
    }
  });

  it('auto: across seeds, some answers call a tool and some are text; none is text with tool_choice none', async () => {
    const kinds = new Set<string>();
    for (let seed = 0; seed < 12; seed++) {
      const result = await client.chat.completions.create({ model: MODEL, messages: ASK, tools: [WEATHER], seed });
      const choice = result.choices[0]!;
      if (choice.message.tool_calls !== undefined) {
        expect(choice.finish_reason).toBe('tool_calls');
        const call = choice.message.tool_calls[0]! as OpenAI.ChatCompletionMessageFunctionToolCall;
        expectValid(WEATHER.function.parameters!, JSON.parse(call.function.arguments));
        kinds.add('call');
      } else {
        expect(choice.finish_reason).toBe('stop');
        expect(choice.message.content!.length).toBeGreaterThan(0);
        kinds.add('text');
      }
      const none = await client.chat.completions.create({
        model: MODEL,
        messages: ASK,
        tools: [WEATHER],
        tool_choice: 'none',
        seed,
      });
      expect(none.choices[0]!.message.tool_calls).toBeUndefined();
      expect(none.choices[0]!.finish_reason).toBe('stop');
    }
    expect([...kinds].sort()).toEqual(['call', 'text']);
  });

  /** A first answer that calls a tool, and that call. */
  async function firstCall() {
    const first = await client.chat.completions.create({
      model: MODEL,
      messages: ASK,
      tools: [WEATHER],
      tool_choice: 'required',
      seed: 3,
    });
    const message = first.choices[0]!.message;
    return { first, message, call: message.tool_calls![0]! as OpenAI.ChatCompletionMessageFunctionToolCall };
  }

  it('a round trip: the call, then the assistant message and the tool result sent back, then a text answer', async () => {
    const { first, message, call } = await firstCall();
    const second = await client.chat.completions.create({
      model: MODEL,
      messages: [
        ...ASK,
        { role: 'assistant', content: null, tool_calls: message.tool_calls! },
        { role: 'tool', tool_call_id: call.id, content: '{"temperature": 21}' },
      ],
      tools: [WEATHER],
      tool_choice: 'none',
      seed: 3,
    });
    expect(second.choices[0]!.finish_reason).toBe('stop');
    expect(second.choices[0]!.message.content!.length).toBeGreaterThan(0);
    expect(second.choices[0]!.message.tool_calls).toBeUndefined();
    // The call and its result are part of the prompt.
    expect(second.usage!.prompt_tokens).toBeGreaterThan(first.usage!.prompt_tokens);
  });

  it("an answer sent back whole, as the API gave it or as the client's parse() and stream helpers give it", async () => {
    const { message, call } = await firstCall();
    // What the answer holds, and what parse() (`parsed`, `parsed_arguments`) and a stream's deltas (`index`) add.
    const sentBack = {
      ...message,
      annotations: [],
      audio: null,
      function_call: null,
      parsed: null,
      tool_calls: [
        {
          ...call,
          index: 0,
          function: { ...call.function, parsed_arguments: JSON.parse(call.function.arguments) as unknown },
        },
      ],
    };
    const res = await send(pipeline.url, CHAT, {
      model: MODEL,
      messages: [...ASK, sentBack, { role: 'tool', tool_call_id: call.id, content: '{"temperature": 21}' }],
      tools: [WEATHER],
      tool_choice: 'none',
    });
    expect(res.status, res.text).toBe(200);
  });

  it('streamed: a first delta with index, id, type and name, then argument pieces that join into the arguments', async () => {
    const body = { model: MODEL, messages: ASK, tools: [WEATHER], tool_choice: 'required', seed: 4 };
    const whole = await client.chat.completions.create(body as OpenAI.ChatCompletionCreateParamsNonStreaming);
    const expected = whole.choices[0]!.message.tool_calls![0]! as OpenAI.ChatCompletionMessageFunctionToolCall;
    interface Chunk {
      choices: Array<{ delta: { tool_calls?: Array<Record<string, unknown>> }; finish_reason: string | null }>;
    }
    const { chunks } = await postStream<Chunk>(pipeline.url, CHAT, body);
    const deltas = chunks.flatMap((chunk) => chunk.choices.flatMap((choice) => choice.delta.tool_calls ?? []));
    expect(deltas.length).toBeGreaterThan(2);
    expect(deltas[0]).toMatchObject({ index: 0, id: expected.id, type: 'function', function: { name: 'get_weather' } });
    for (const delta of deltas.slice(1)) {
      expect(Object.keys(delta).sort()).toEqual(['function', 'index']);
      expect(delta.index).toBe(0);
    }
    const args = deltas.map((delta) => (delta.function as { arguments: string }).arguments).join('');
    expect(args).toBe(expected.function.arguments);
    expect(chunks.at(-1)!.choices[0]!.finish_reason).toBe('tool_calls');

    // The openai client's stream helper puts the same call together.
    const stream = client.chat.completions.stream(body as OpenAI.ChatCompletionCreateParamsStreaming);
    const final = await stream.finalChatCompletion();
    expect(final.choices[0]!.message.tool_calls).toMatchObject([expected]);
    expect(final.choices[0]!.finish_reason).toBe('tool_calls');
  });

  it("the opening chunk: content null before a call, '' before text, no content when either may come", async () => {
    interface Chunk {
      choices: Array<{ delta: Record<string, unknown> }>;
    }
    const opening = async (extra: Record<string, unknown>) => {
      const { chunks } = await postStream<Chunk>(pipeline.url, CHAT, { model: MODEL, messages: ASK, ...extra });
      return chunks[0]!.choices[0]!.delta;
    };
    const tools = [WEATHER];
    expect(await opening({ tools, tool_choice: 'required' })).toEqual({ role: 'assistant', content: null });
    const named = { type: 'function', function: { name: 'get_weather' } };
    expect(await opening({ tools, tool_choice: named })).toEqual({ role: 'assistant', content: null });
    expect(await opening({ tools, tool_choice: 'none' })).toEqual({ role: 'assistant', content: '' });
    expect(await opening({})).toEqual({ role: 'assistant', content: '' });
    expect(await opening({ tools })).toEqual({ role: 'assistant' });
    expect(await opening({ tools, tool_choice: 'auto' })).toEqual({ role: 'assistant' });
    // The openai client's stream helper puts either answer together from such an opening.
    for (const seed of [0, 1, 2, 3]) {
      const body = { model: MODEL, messages: ASK, tools, seed };
      const whole = await client.chat.completions.create(body);
      const final = await client.chat.completions.stream(body).finalChatCompletion();
      expect(final.choices[0]!.message.content).toBe(whole.choices[0]!.message.content);
      expect(final.choices[0]!.message.tool_calls ?? []).toMatchObject(whole.choices[0]!.message.tool_calls ?? []);
    }
  });

  it('max_tokens cuts a call short: finish_reason length', async () => {
    const result = await client.chat.completions.create({
      model: MODEL,
      messages: ASK,
      tools: [WEATHER],
      tool_choice: 'required',
      max_tokens: 3,
      seed: 1,
    });
    expect(result.choices[0]!.finish_reason).toBe('length');
    expect(result.usage!.completion_tokens).toBe(3);
  });
});

describe('structured output', () => {
  const Person = z.object({
    name: z.string(),
    age: z.number().int().min(0).max(130),
    tags: z.array(z.string()),
    role: z.enum(['admin', 'user']),
    manager: z.object({ name: z.string() }).nullable(),
  });

  it('chat.completions.parse with a zod schema: parsed, and valid against the JSON Schema it sent', async () => {
    const format = zodResponseFormat(Person, 'person');
    for (const seed of [1, 2, 3, 4]) {
      const result = await client.chat.completions.parse({
        model: MODEL,
        messages: [{ role: 'user', content: 'Describe a person.' }],
        response_format: format,
        seed,
      });
      const choice = result.choices[0]!;
      expect(choice.finish_reason).toBe('stop');
      expect(choice.message.parsed).not.toBeNull();
      expect(Person.parse(choice.message.parsed)).toEqual(choice.message.parsed);
      expectValid(format.json_schema.schema!, JSON.parse(choice.message.content!));
    }
  });

  it('json_schema streamed: the content deltas join into valid JSON', async () => {
    const format = zodResponseFormat(Person, 'person');
    const stream = client.chat.completions.stream({
      model: MODEL,
      messages: [{ role: 'user', content: 'Describe a person.' }],
      response_format: format,
      seed: 5,
    });
    const final = await stream.finalChatCompletion();
    expect(Person.parse(final.choices[0]!.message.parsed)).toBeTruthy();
  });

  it('json_object: a JSON object', async () => {
    for (const seed of [1, 2, 3]) {
      const result = await client.chat.completions.create({
        model: MODEL,
        messages: [{ role: 'user', content: 'Answer in JSON.' }],
        response_format: { type: 'json_object' },
        seed,
      });
      const value = JSON.parse(result.choices[0]!.message.content!) as unknown;
      expect(typeof value).toBe('object');
      expect(Array.isArray(value)).toBe(false);
      expect(value).not.toBeNull();
    }
  });

  it('response_format text: the usual answer', async () => {
    const body = { model: MODEL, messages: [{ role: 'user' as const, content: 'hi' }], seed: 2 };
    const plain = await client.chat.completions.create(body);
    const text = await client.chat.completions.create({ ...body, response_format: { type: 'text' } });
    expect(text.choices[0]!.message.content).toBe(plain.choices[0]!.message.content);
  });

  it('a schema the mocker cannot satisfy is refused, naming it', async () => {
    const res = await send(pipeline.url, CHAT, {
      model: MODEL,
      messages: [{ role: 'user', content: 'hi' }],
      response_format: {
        type: 'json_schema',
        json_schema: { name: 'never', schema: { allOf: [{ type: 'string' }, { type: 'number' }] } },
      },
    });
    expectOpenAIError(res, 400, { param: 'response_format.json_schema.schema' });
  });

  it('a schema asking for a huge value is refused, not generated', async () => {
    const res = await send(pipeline.url, CHAT, {
      model: MODEL,
      messages: [{ role: 'user', content: 'hi' }],
      response_format: {
        type: 'json_schema',
        json_schema: {
          name: 'huge',
          schema: { type: 'array', minItems: 100_000, items: { type: 'array', minItems: 100_000 } },
        },
      },
    });
    expectOpenAIError(res, 400, { param: 'response_format.json_schema.schema' });
  });
});

describe('logprobs', () => {
  interface ChatLogprob {
    token: string;
    logprob: number;
    bytes: number[];
    top_logprobs: Array<{ token: string; logprob: number; bytes: number[] }>;
  }

  function checkEntry(entry: ChatLogprob, top: number): void {
    expect(Buffer.from(entry.bytes).toString('utf8')).toBe(entry.token);
    expect(entry.logprob).toBeLessThanOrEqual(0);
    expect(entry.top_logprobs.length).toBeLessThanOrEqual(top);
    const logprobs = entry.top_logprobs.map((alt) => alt.logprob);
    expect(logprobs).toEqual([...logprobs].sort((a, b) => b - a));
    // The chosen token is among the alternatives when it is as likely as the least likely shown.
    const last = entry.top_logprobs.at(-1);
    if (last !== undefined && entry.logprob >= last.logprob + 1e-12) {
      expect(entry.top_logprobs.map((alt) => alt.token)).toContain(entry.token);
    }
    for (const alt of entry.top_logprobs) {
      expect(Buffer.from(alt.bytes).toString('utf8')).toBe(alt.token);
      if (alt.token === entry.token) expect(alt.logprob).toBeCloseTo(entry.logprob, 12);
    }
  }

  it('chat: one entry per token, joined they are the content, the top alternatives in order', async () => {
    const result = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'Tell me something.' }],
      logprobs: true,
      top_logprobs: 3,
      seed: 11,
    });
    const choice = result.choices[0]!;
    const content = choice.logprobs!.content! as ChatLogprob[];
    expect(content).toHaveLength(result.usage!.completion_tokens);
    expect(content.map((entry) => entry.token).join('')).toBe(choice.message.content);
    for (const entry of content) checkEntry(entry, 3);
    // The mocker's distribution: a period or a comma is 6% likely, each of its words the same.
    const punctuation = content.filter(
      (entry) => entry.token === ',' || (entry.token === '.' && entry !== content.at(-1)),
    );
    for (const entry of punctuation) expect(entry.logprob).toBeCloseTo(Math.log(0.06), 9);
    expect(content.at(-1)!.logprob).toBe(0);
    // After the first token, the period and the comma are the two most likely.
    expect(
      content[1]!.top_logprobs
        .slice(0, 2)
        .map((alt) => alt.token)
        .sort(),
    ).toEqual([',', '.']);
  });

  it('chat without logprobs: logprobs null; logprobs without top_logprobs: no alternatives', async () => {
    const body = { model: MODEL, messages: [{ role: 'user' as const, content: 'hi' }], seed: 1, max_tokens: 4 };
    const plain = await client.chat.completions.create(body);
    expect(plain.choices[0]!.logprobs).toBeNull();
    const bare = await client.chat.completions.create({ ...body, logprobs: true });
    expect(bare.choices[0]!.logprobs!.content).toHaveLength(4);
    for (const entry of bare.choices[0]!.logprobs!.content!) expect(entry.top_logprobs).toEqual([]);
  });

  it('chat streamed: each chunk carries the entries of the text it carries', async () => {
    interface Chunk {
      choices: Array<{ delta: { content?: string }; logprobs: { content: ChatLogprob[] } | null }>;
    }
    const body = { model: MODEL, messages: [{ role: 'user', content: 'Stream it.' }], logprobs: true, top_logprobs: 2 };
    const { chunks } = await postStream<Chunk>(pipeline.url, CHAT, { ...body, seed: 5 });
    let text = '';
    for (const chunk of chunks) {
      for (const choice of chunk.choices) {
        if (choice.delta.content === undefined || choice.logprobs === null) continue;
        expect(choice.logprobs.content.map((entry) => entry.token).join('')).toBe(choice.delta.content);
        text += choice.delta.content;
      }
    }
    const whole = await postJson<{ choices: Array<{ message: { content: string } }> }>(pipeline.url, CHAT, {
      ...body,
      seed: 5,
    });
    expect(text).toBe(whole.json.choices[0]!.message.content);
  });

  it('structured output: each token certain (logprob 0)', async () => {
    const result = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'JSON please.' }],
      response_format: { type: 'json_object' },
      logprobs: true,
      top_logprobs: 2,
      seed: 1,
    });
    const content = result.choices[0]!.logprobs!.content!;
    expect(content.map((entry) => entry.token).join('')).toBe(result.choices[0]!.message.content);
    for (const entry of content) {
      expect(entry.logprob).toBe(0);
      expect(entry.top_logprobs).toEqual([{ token: entry.token, logprob: 0, bytes: entry.bytes }]);
    }
  });

  it('completions: tokens, token_logprobs, top_logprobs and text_offset, consistent with the text', async () => {
    const result = await client.completions.create({ model: MODEL, prompt: 'Once upon a time', logprobs: 2, seed: 3 });
    const choice = result.choices[0]!;
    const logprobs = choice.logprobs!;
    expect(logprobs.tokens!.join('')).toBe(choice.text);
    expect(logprobs.tokens).toHaveLength(result.usage!.completion_tokens);
    expect(logprobs.token_logprobs).toHaveLength(logprobs.tokens!.length);
    let offset = 0;
    logprobs.tokens!.forEach((token, i) => {
      expect(logprobs.text_offset![i]).toBe(offset);
      offset += token.length;
      const top = logprobs.top_logprobs![i]!;
      // Up to 2 alternatives, and the sampled token always.
      expect(top[token]).toBeCloseTo(logprobs.token_logprobs![i]!, 12);
      expect(Object.keys(top).length).toBeLessThanOrEqual(3);
    });

    // Streamed, the same entries, with offsets running on across chunks.
    const stream = await client.completions.create({
      model: MODEL,
      prompt: 'Once upon a time',
      logprobs: 2,
      seed: 3,
      stream: true,
    });
    const offsets: number[] = [];
    const tokens: string[] = [];
    for await (const chunk of stream) {
      const part = chunk.choices[0]?.logprobs;
      if (part) {
        offsets.push(...part.text_offset!);
        tokens.push(...part.tokens!);
      }
    }
    expect(tokens).toEqual(logprobs.tokens);
    expect(offsets).toEqual(logprobs.text_offset);
  });

  it('a stop sequence: the entries stop with the text', async () => {
    const body = { model: MODEL, messages: [{ role: 'user', content: 'Tell me a story.' }], logprobs: true, seed: 2 };
    const whole = await postJson<{ choices: Array<{ message: { content: string } }> }>(pipeline.url, CHAT, body);
    const words = whole.json.choices[0]!.message.content.split(' ');
    const stop = ` ${words[4]}`;
    const cut = await client.chat.completions.create({
      ...(body as OpenAI.ChatCompletionCreateParamsNonStreaming),
      stop,
    });
    const content = cut.choices[0]!.message.content!;
    expect(cut.choices[0]!.logprobs!.content!.map((entry) => entry.token).join('')).toBe(content);
  });
});

/** A field OpenAI does not define, inside each object of a chat body: refused as OpenAI refuses it, naming it. */
function nestedUnknownFields() {
  const body = (extra: Record<string, unknown>) => ({
    model: MODEL,
    messages: [{ role: 'user', content: 'hi' }],
    ...extra,
  });
  const fn = { name: 'f', parameters: { type: 'object' } };
  const call = { id: 'call_1', type: 'function', function: { name: 'f', arguments: '{}' } };
  const cases: Array<[string, Record<string, unknown>]> = [
    ['messages[0].foo', { messages: [{ role: 'user', content: 'hi', foo: 'bob' }] }],
    ['messages[0].tool_call_id', { messages: [{ role: 'user', content: 'hi', tool_call_id: 'x' }] }],
    ['messages[0].content[0].foo', { messages: [{ role: 'user', content: [{ type: 'text', text: 'a', foo: 1 }] }] }],
    [
      'messages[1].tool_calls[0].foo',
      {
        messages: [
          { role: 'user', content: 'hi' },
          { role: 'assistant', tool_calls: [{ ...call, foo: 1 }] },
        ],
      },
    ],
    [
      'messages[1].tool_calls[0].function.foo',
      {
        messages: [
          { role: 'user', content: 'hi' },
          { role: 'assistant', tool_calls: [{ ...call, function: { ...call.function, foo: 1 } }] },
        ],
      },
    ],
    ['tools[0].foo', { tools: [{ type: 'function', function: fn, foo: 1 }] }],
    ['tools[0].function.foo', { tools: [{ type: 'function', function: { ...fn, foo: 1 } }] }],
    [
      'tool_choice.extra',
      {
        tools: [{ type: 'function', function: fn }],
        tool_choice: { type: 'function', function: { name: 'f' }, extra: 1 },
      },
    ],
    [
      'tool_choice.function.foo',
      {
        tools: [{ type: 'function', function: fn }],
        tool_choice: { type: 'function', function: { name: 'f', foo: 1 } },
      },
    ],
    ['response_format.foo', { response_format: { type: 'json_object', foo: 1 } }],
    [
      'response_format.json_schema.foo',
      { response_format: { type: 'json_schema', json_schema: { name: 'n', schema: {}, foo: 1 } } },
    ],
  ];
  return cases.map(([param, extra]) => ({
    name: `an unknown field, ${param}`,
    body: body(extra),
    param,
    message: `Unrecognized argument ${param}.`,
  }));
}

describe('refused: wrong shapes, unsupported and unknown parameters', () => {
  const chat = (extra: Record<string, unknown>) => ({
    model: MODEL,
    messages: [{ role: 'user', content: 'hi' }],
    ...extra,
  });
  const tool = (parameters: unknown) => ({ type: 'function', function: { name: 'f', parameters } });
  const CASES: Array<{ name: string; path?: string; body: object; param: string | null; message?: string | RegExp }> = [
    { name: 'tools not a list', body: chat({ tools: 'notalist' }), param: 'tools' },
    { name: 'tools empty', body: chat({ tools: [] }), param: 'tools' },
    { name: 'a tool of another type', body: chat({ tools: [{ type: 'web_search' }] }), param: 'tools[0].type' },
    {
      name: 'a tool without a name',
      body: chat({ tools: [{ type: 'function', function: {} }] }),
      param: 'tools[0].function.name',
    },
    {
      name: 'parameters that do not compile',
      body: chat({ tools: [tool({ type: 'strin' })] }),
      param: 'tools[0].function.parameters',
      message: /^tools\[0\]\.function\.parameters is not a valid JSON Schema/,
    },
    {
      name: 'parameters with a $ref to nowhere',
      body: chat({ tools: [tool({ $ref: '#/$defs/nope' })] }),
      param: 'tools[0].function.parameters',
    },
    { name: 'parameters not an object', body: chat({ tools: [tool('x')] }), param: 'tools[0].function.parameters' },
    {
      name: "parameters of another type than an object's",
      body: chat({ tools: [tool({ type: 'string' })] }),
      param: 'tools[0].function.parameters',
      message: /must be the JSON Schema of an object .* not of type "string"/,
    },
    ...nestedUnknownFields(),
    {
      name: "an assistant message's audio, a reference to an answer this server never gave",
      body: chat({ messages: [{ role: 'assistant', content: 'a', audio: { id: 'audio_1' } }] }),
      param: 'messages[0].audio',
    },
    {
      name: 'two tools of one name',
      body: chat({ tools: [tool({}), tool({})] }),
      param: 'tools[1].function.name',
    },
    { name: 'tool_choice required without tools', body: chat({ tool_choice: 'required' }), param: 'tool_choice' },
    {
      name: 'tool_choice of a bad value',
      body: chat({ tools: [tool({})], tool_choice: 'always' }),
      param: 'tool_choice',
    },
    {
      name: 'tool_choice naming an undeclared tool',
      body: chat({ tools: [tool({})], tool_choice: { type: 'function', function: { name: 'g' } } }),
      param: 'tool_choice.function.name',
    },
    {
      name: 'parallel_tool_calls not a boolean',
      body: chat({ parallel_tool_calls: 'yes' }),
      param: 'parallel_tool_calls',
    },
    {
      name: 'response_format of a bad type',
      body: chat({ response_format: { type: 'xml' } }),
      param: 'response_format.type',
    },
    {
      name: 'json_schema without a name',
      body: chat({ response_format: { type: 'json_schema', json_schema: { schema: {} } } }),
      param: 'response_format.json_schema.name',
    },
    {
      name: 'a json_schema that does not compile',
      body: chat({ response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { required: 'a' } } } }),
      param: 'response_format.json_schema.schema',
    },
    { name: 'top_logprobs without logprobs', body: chat({ top_logprobs: 2 }), param: 'top_logprobs' },
    { name: 'top_logprobs 21', body: chat({ logprobs: true, top_logprobs: 21 }), param: 'top_logprobs' },
    { name: 'logprobs not a boolean (chat)', body: chat({ logprobs: 2 }), param: 'logprobs' },
    {
      name: 'logprobs 6 (completions)',
      path: COMPLETIONS,
      body: { model: MODEL, prompt: 'hi', logprobs: 6 },
      param: 'logprobs',
    },
    {
      name: 'an assistant tool call without arguments',
      body: chat({
        messages: [
          { role: 'user', content: 'hi' },
          { role: 'assistant', content: null, tool_calls: [{ id: 'c', type: 'function', function: { name: 'f' } }] },
        ],
      }),
      param: 'messages[1].tool_calls[0].function.arguments',
    },
    {
      name: 'a tool message without tool_call_id',
      body: chat({ messages: [{ role: 'tool', content: '1' }] }),
      param: 'messages[0].tool_call_id',
    },
    {
      name: 'logit_bias',
      body: chat({ logit_bias: { '50256': -100 } }),
      param: 'logit_bias',
      message: '`logit_bias` is not supported by this server.',
    },
    { name: 'audio', body: chat({ audio: { voice: 'alloy', format: 'mp3' } }), param: 'audio' },
    { name: 'modalities', body: chat({ modalities: ['text', 'audio'] }), param: 'modalities' },
    { name: 'prediction', body: chat({ prediction: { type: 'content', content: 'x' } }), param: 'prediction' },
    {
      name: 'web_search_options',
      body: chat({ web_search_options: { search_context_size: 'low' } }),
      param: 'web_search_options',
    },
    { name: 'legacy functions', body: chat({ functions: [{ name: 'f' }] }), param: 'functions' },
    {
      name: 'a reasoning_effort OpenAI does not define',
      body: chat({ reasoning_effort: 'extreme' }),
      param: 'reasoning_effort',
      message: /^Invalid value for reasoning_effort: "extreme"\. Supported values are: 'none', 'minimal', 'low'/,
    },
    {
      name: 'reasoning_effort (completions)',
      path: COMPLETIONS,
      body: { model: MODEL, prompt: 'hi', reasoning_effort: 'low' },
      param: null,
      message: 'Unrecognized request argument supplied: reasoning_effort',
    },
    { name: 'legacy function_call', body: chat({ function_call: 'auto' }), param: 'function_call' },
    { name: 'echo (completions)', path: COMPLETIONS, body: { model: MODEL, prompt: 'hi', echo: true }, param: 'echo' },
    {
      name: 'best_of 2 (completions)',
      path: COMPLETIONS,
      body: { model: MODEL, prompt: 'hi', best_of: 2 },
      param: 'best_of',
    },
    {
      name: 'suffix (completions)',
      path: COMPLETIONS,
      body: { model: MODEL, prompt: 'hi', suffix: 'end' },
      param: 'suffix',
    },
    {
      name: 'an unrecognised argument',
      body: chat({ frobnicate: true }),
      param: null,
      message: 'Unrecognized request argument supplied: frobnicate',
    },
    {
      name: 'a chat argument on completions',
      path: COMPLETIONS,
      body: { model: MODEL, prompt: 'hi', tools: [tool({})] },
      param: null,
      message: 'Unrecognized request argument supplied: tools',
    },
  ];

  it.each(CASES)('$name → 400 naming $param', async ({ path = CHAT, body, param, message }) => {
    const res = await send(pipeline.url, path, body);
    const error = expectOpenAIError(res, 400, { param });
    if (typeof message === 'string') expect(error.message).toBe(message);
    else if (message !== undefined) expect(error.message).toMatch(message);
  });

  it("OpenAI's tools this server does not have are unsupported_parameter, as its other unbuilt features", async () => {
    const allowedTools = { type: 'allowed_tools', allowed_tools: { mode: 'auto', tools: [] } };
    for (const [body, param] of [
      [chat({ tools: [{ type: 'web_search' }] }), 'tools[0].type'],
      [chat({ tools: [tool({})], tool_choice: allowedTools }), 'tool_choice'],
      [chat({ tools: [tool({})], tool_choice: { type: 'custom', custom: { name: 'f' } } }), 'tool_choice'],
    ] as const) {
      const error = expectOpenAIError(await send(pipeline.url, CHAT, body), 400, { param });
      expect(error.code).toBe('unsupported_parameter');
    }
  });

  it('parameters with nothing to do here are accepted, and values that ask for nothing', async () => {
    const ok = await send(
      pipeline.url,
      CHAT,
      chat({
        user: 'u-1',
        metadata: { a: 'b' },
        store: false,
        service_tier: 'auto',
        parallel_tool_calls: false,
        prompt_cache_key: 'k',
        safety_identifier: 's',
        logit_bias: null,
        functions: [],
        max_tokens: 2,
      }),
    );
    expect(ok.status, ok.text).toBe(200);
    const completion = await send(pipeline.url, COMPLETIONS, {
      model: MODEL,
      prompt: 'hi',
      user: 'u',
      echo: false,
      best_of: 1,
      suffix: null,
      max_tokens: 2,
    });
    expect(completion.status, completion.text).toBe(200);
  });

  it('the openai client sees the refusal as a BadRequestError naming the parameter', async () => {
    const error = await client.chat.completions
      .create({
        model: MODEL,
        messages: ASK,
        tools: [WEATHER],
        tool_choice: { type: 'function', function: { name: 'x' } },
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect((error as InstanceType<typeof OpenAI.BadRequestError>).param).toBe('tool_choice.function.name');
  });
});
