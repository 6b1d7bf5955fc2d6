import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scriptedStream, withFakeUpstream } from '../../support/fake-upstream.js';
import { startPipeline } from '../../support/pipeline-app.js';
import type { PipelineApp } from '../../support/pipeline-app.js';
import { CHAT, COMPLETIONS, MODEL, send } from '../../support/requests.js';
import { sseJson } from '../../support/sse.js';
import { withEngine } from '../../support/upstream-engine.js';

/**
 * The `openai` engine passes tools, tool_choice, response_format, logprobs and tool messages to its
 * upstream as the client wrote them, and gives back what the upstream returns: tool calls streamed as
 * deltas, logprobs, finish reason `tool_calls`.
 */

const TOOL = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'The weather',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
    strict: true,
  },
};

const logprob = (token: string, value: number) => ({
  token,
  logprob: value,
  bytes: [...Buffer.from(token)],
  top_logprobs: [{ token, logprob: value, bytes: [...Buffer.from(token)] }],
});

describe('the openai engine: tools, structured output and logprobs', () => {
  it('sends the parameters and the messages on unchanged (text parts as parts), and returns the streamed tool call', async () => {
    const script = scriptedStream({
      chat: [
        { delta: { role: 'assistant', content: null } },
        {
          delta: {
            tool_calls: [
              { index: 0, id: 'call_up1', type: 'function', function: { name: 'get_weather', arguments: '' } },
            ],
          },
        },
        { delta: { tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] } },
        { delta: { tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] } },
      ],
      finishReason: 'tool_calls',
    });
    await withFakeUpstream(script, async (fake) => {
      await withEngine({ UPSTREAM_URL: fake.url }, async (b) => {
        const messages = [
          { role: 'user', content: 'Weather?' },
          {
            role: 'assistant',
            content: null,
            tool_calls: [
              { id: 'call_0', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Rome"}' } },
            ],
          },
          { role: 'tool', tool_call_id: 'call_0', content: '{"t":20}' },
          // Text parts go on as parts: the upstream joins them as it would for the client.
          {
            role: 'user',
            content: [
              { type: 'text', text: 'And' },
              { type: 'text', text: 'Paris?' },
            ],
          },
        ];
        const responseFormat = {
          type: 'json_schema',
          json_schema: { name: 'w', schema: { type: 'object', properties: {} }, strict: true },
        };
        const body = {
          model: MODEL,
          messages,
          tools: [TOOL],
          tool_choice: 'required',
          parallel_tool_calls: false,
          response_format: responseFormat,
          logprobs: true,
          top_logprobs: 2,
        };
        const res = await send(b.url, CHAT, body);
        expect(res.status, res.text).toBe(200);
        const sent = fake.received[0]!.body as Record<string, unknown>;
        expect(sent.tools).toEqual([TOOL]);
        expect(sent.tool_choice).toBe('required');
        expect(sent.parallel_tool_calls).toBe(false);
        expect(sent.response_format).toEqual(responseFormat);
        expect(sent.logprobs).toBe(true);
        expect(sent.top_logprobs).toBe(2);
        expect(sent.messages).toEqual(messages);

        const json = JSON.parse(res.text) as OpenAI.ChatCompletion;
        expect(json.choices[0]!.finish_reason).toBe('tool_calls');
        expect(json.choices[0]!.message.tool_calls).toEqual([
          { id: 'call_up1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
        ]);
        expect(json.choices[0]!.message.content).toBeNull();

        // Streamed: the first delta with the id and the name, then the arguments in pieces.
        const client = new OpenAI({ baseURL: `${b.url}/v1`, apiKey: 'test', maxRetries: 0 });
        const stream = client.chat.completions.stream(body as unknown as OpenAI.ChatCompletionCreateParamsStreaming);
        const final = await stream.finalChatCompletion();
        expect(final.choices[0]!.message.tool_calls).toMatchObject([
          { id: 'call_up1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
        ]);
      });
    });
  });

  it('takes tool calls sent without index (as Ollama sends them): a new id starts the next call, none goes on with the current one', async () => {
    const whole = (id: string, city: string) => ({
      id,
      type: 'function',
      function: { name: 'get_weather', arguments: `{"city":"${city}"}` },
    });
    const script = scriptedStream({
      chat: [
        { delta: { role: 'assistant', content: '' } },
        // Two whole calls in one chunk, then a third in pieces.
        { delta: { tool_calls: [whole('call_a', 'Paris'), whole('call_b', 'Rome')] } },
        {
          delta: { tool_calls: [{ id: 'call_c', type: 'function', function: { name: 'get_weather', arguments: '' } }] },
        },
        { delta: { tool_calls: [{ function: { arguments: '{"city":' } }] } },
        { delta: { tool_calls: [{ id: 'call_c', function: { arguments: '"Oslo"}' } }] } },
      ],
      finishReason: 'tool_calls',
    });
    const expected = [whole('call_a', 'Paris'), whole('call_b', 'Rome'), whole('call_c', 'Oslo')];
    await withFakeUpstream(script, async (fake) => {
      await withEngine({ UPSTREAM_URL: fake.url }, async (b) => {
        const body = { model: MODEL, messages: [{ role: 'user' as const, content: 'Weather?' }], tools: [TOOL] };
        const res = await send(b.url, CHAT, body);
        expect(res.status, res.text).toBe(200);
        const json = JSON.parse(res.text) as OpenAI.ChatCompletion;
        expect(json.choices[0]!.finish_reason).toBe('tool_calls');
        expect(json.choices[0]!.message.tool_calls).toEqual(expected);

        const client = new OpenAI({ baseURL: `${b.url}/v1`, apiKey: 'test', maxRetries: 0 });
        const stream = client.chat.completions.stream(body as unknown as OpenAI.ChatCompletionCreateParamsStreaming);
        const final = await stream.finalChatCompletion();
        expect(final.choices[0]!.message.tool_calls).toMatchObject(expected);

        const response = await client.responses.create({
          model: MODEL,
          input: 'Weather?',
          tools: [{ type: 'function', name: 'get_weather', parameters: TOOL.function.parameters, strict: false }],
        });
        expect(response.output.map((item) => item.type === 'function_call' && [item.call_id, item.arguments])).toEqual(
          expected.map((call) => [call.id, call.function.arguments]),
        );
      });
    });
  });

  it('Responses API: parallel calls whose argument pieces come in turns are each done once whole, with all their arguments, and get no delta after', async () => {
    const piece = (index: number, args: string, start = false) => ({
      delta: {
        tool_calls: [
          start
            ? { index, id: `call_${index}`, type: 'function', function: { name: 'get_weather', arguments: args } }
            : { index, function: { arguments: args } },
        ],
      },
    });
    const script = scriptedStream({
      chat: [
        piece(0, '{"ci', true),
        piece(1, '{"ci', true),
        piece(0, 'ty": "Paris"'),
        piece(1, 'ty": "Rome"'),
        piece(0, '}'),
        piece(1, '}'),
      ],
      finishReason: 'tool_calls',
    });
    const full = ['{"city": "Paris"}', '{"city": "Rome"}'];
    await withFakeUpstream(script, async (fake) => {
      await withEngine({ UPSTREAM_URL: fake.url }, async (b) => {
        const tools = [{ type: 'function', name: 'get_weather', parameters: TOOL.function.parameters }];
        const reply = await send(b.url, '/v1/responses', { model: MODEL, input: 'Weather?', tools, stream: true });
        expect(reply.status, reply.text).toBe(200);
        const events = sseJson(reply.text) as Array<{
          type: string;
          output_index?: number;
          delta?: string;
          arguments?: string;
          item?: { arguments?: string };
        }>;
        const done = new Set<number>();
        const deltas: Record<number, string> = { 0: '', 1: '' };
        for (const event of events) {
          if (event.output_index === undefined) continue;
          expect(done.has(event.output_index), `${event.type} after output_item.done`).toBe(false);
          if (event.type === 'response.function_call_arguments.delta') deltas[event.output_index] += event.delta!;
          if (event.type === 'response.function_call_arguments.done') {
            expect(event.arguments).toBe(full[event.output_index]);
          }
          if (event.type === 'response.output_item.done') {
            expect(event.item!.arguments).toBe(full[event.output_index]);
            done.add(event.output_index);
          }
        }
        expect([...done].sort()).toEqual([0, 1]);
        expect(deltas).toEqual({ 0: full[0], 1: full[1] });
        const completed = events.at(-1) as { type: string; response: { output: Array<{ arguments: string }> } };
        expect(completed.type).toBe('response.completed');
        expect(completed.response.output.map((item) => item.arguments)).toEqual(full);
      });
    });
  });

  it("passes the upstream model's refusal on: chat's message.refusal (content null), streamed and not, and Responses' refusal part", async () => {
    const REFUSAL = 'I cannot help with that.';
    const script = scriptedStream({
      chat: [
        { delta: { role: 'assistant', content: null, refusal: '' } },
        { delta: { refusal: 'I cannot' } },
        { delta: { refusal: ' help with that.' } },
      ],
      finishReason: 'stop',
    });
    await withFakeUpstream(script, async (fake) => {
      await withEngine({ UPSTREAM_URL: fake.url }, async (b) => {
        const client = new OpenAI({ baseURL: `${b.url}/v1`, apiKey: 'test', maxRetries: 0 });
        const body = { model: MODEL, messages: [{ role: 'user' as const, content: 'Something forbidden' }] };
        const whole = await client.chat.completions.create(body);
        expect(whole.choices[0]!.message).toMatchObject({ role: 'assistant', content: null, refusal: REFUSAL });
        expect(whole.choices[0]!.finish_reason).toBe('stop');
        expect(whole.usage!.completion_tokens).toBeGreaterThan(0);
        // Sent back as the conversation's history, as a client does, the refusal is the assistant's turn.
        const asked = fake.received.length;
        const next = await client.chat.completions.create({
          ...body,
          messages: [...body.messages, whole.choices[0]!.message, { role: 'user', content: 'Why not?' }],
        });
        expect(next.choices[0]!.message.refusal).toBe(REFUSAL);
        expect((fake.received[asked]!.body as { messages: unknown[] }).messages[1]).toEqual({
          role: 'assistant',
          content: REFUSAL,
        });

        const deltas: string[] = [];
        const stream = client.chat.completions.stream(body);
        stream.on('refusal.delta', ({ delta }) => deltas.push(delta));
        const streamed = await stream.finalChatCompletion();
        expect(streamed.choices[0]!.message.refusal).toBe(REFUSAL);
        // The stream's opening chunk, sent before the model's first token, said `content: ''`: no more came.
        expect(streamed.choices[0]!.message.content).toBe('');
        expect(deltas.join('')).toBe(REFUSAL);

        const response = await client.responses.create({ model: MODEL, input: 'Something forbidden' });
        expect(response.status).toBe('completed');
        const refused = [
          { type: 'message', role: 'assistant', status: 'completed', content: [{ type: 'refusal', refusal: REFUSAL }] },
        ];
        expect(response.output).toMatchObject(refused);
        expect(response.output_text).toBe('');
        const events: string[] = [];
        const responseStream = client.responses.stream({ model: MODEL, input: 'Something forbidden' });
        responseStream.on('response.refusal.delta', ({ delta }) => events.push(delta));
        responseStream.on('response.refusal.done', ({ refusal }) => events.push(`done: ${refusal}`));
        const final = await responseStream.finalResponse();
        expect(final.output).toMatchObject(refused);
        const again = await client.responses.create({
          model: MODEL,
          input: [
            { role: 'user', content: 'Something forbidden' },
            ...(response.output as OpenAI.Responses.ResponseInputItem[]),
            { role: 'user', content: 'Why not?' },
          ],
        });
        expect(again.output).toMatchObject(refused);
        expect(events).toEqual(['I cannot', ' help with that.', `done: ${REFUSAL}`]);
      });
    });
  });

  it("returns the upstream's logprobs with its text, for chat and for completions", async () => {
    const chat = scriptedStream({
      chat: [
        { delta: { content: ' Hello' }, logprobs: { content: [logprob(' Hello', -0.5)], refusal: null } },
        { delta: { content: ' world' }, logprobs: { content: [logprob(' world', -1.25)], refusal: null } },
      ],
      finishReason: 'stop',
    });
    await withFakeUpstream(chat, async (fake) => {
      await withEngine({ UPSTREAM_URL: fake.url }, async (b) => {
        const res = await send(b.url, CHAT, {
          model: MODEL,
          messages: [{ role: 'user', content: 'hi' }],
          logprobs: true,
          top_logprobs: 1,
        });
        const json = JSON.parse(res.text) as OpenAI.ChatCompletion;
        expect(json.choices[0]!.message.content).toBe(' Hello world');
        expect(json.choices[0]!.logprobs!.content).toEqual([logprob(' Hello', -0.5), logprob(' world', -1.25)]);
      });
    });
    const completion = scriptedStream({
      completion: [
        {
          text: ' upon',
          logprobs: {
            tokens: [' upon'],
            token_logprobs: [-0.1],
            top_logprobs: [{ ' upon': -0.1, ' a': -3 }],
            text_offset: [4],
          },
        },
      ],
      finishReason: 'length',
    });
    await withFakeUpstream(completion, async (fake) => {
      await withEngine({ UPSTREAM_URL: fake.url }, async (b) => {
        const res = await send(b.url, COMPLETIONS, { model: MODEL, prompt: 'Once', logprobs: 1 });
        expect((fake.received[0]!.body as { logprobs: number }).logprobs).toBe(1);
        const json = JSON.parse(res.text) as OpenAI.Completion;
        expect(json.choices[0]!.logprobs).toEqual({
          tokens: [' upon'],
          token_logprobs: [-0.1],
          top_logprobs: [{ ' upon': -0.1, ' a': -3 }],
          text_offset: [0],
        });
      });
    });
  });
});

describe('Threadline (openai engine) in front of Threadline (mocker): the same tool calls and JSON', () => {
  let a: PipelineApp;
  let b: PipelineApp;
  beforeAll(async () => {
    a = await startPipeline({ MOCKER_DECODE_MS_PER_TOKEN: '0' });
    b = await startPipeline({ THREADLINE_ENGINE: 'openai', UPSTREAM_URL: `${a.url}/v1` });
  }, 60_000);
  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  it('a required tool call, streamed and not, and a json_schema answer with logprobs: as the mocker gives them', async () => {
    const bodies = [
      {
        model: MODEL,
        messages: [{ role: 'user', content: 'Weather?' }],
        tools: [TOOL],
        tool_choice: 'required',
        seed: 3,
      },
      {
        model: MODEL,
        messages: [{ role: 'user', content: 'JSON' }],
        response_format: {
          type: 'json_schema',
          json_schema: {
            name: 'p',
            schema: { type: 'object', properties: { n: { type: 'integer' } }, required: ['n'] },
          },
        },
        logprobs: true,
        top_logprobs: 1,
        seed: 2,
      },
    ];
    for (const body of bodies) {
      const direct = JSON.parse((await send(a.url, CHAT, body)).text) as OpenAI.ChatCompletion;
      const through = JSON.parse((await send(b.url, CHAT, body)).text) as OpenAI.ChatCompletion;
      expect(through.choices).toEqual(direct.choices);
      const clientB = new OpenAI({ baseURL: `${b.url}/v1`, apiKey: 'test', maxRetries: 0 });
      const streamed = await clientB.chat.completions
        .stream(body as unknown as OpenAI.ChatCompletionCreateParamsStreaming)
        .finalChatCompletion();
      // A stream opens each choice with empty content before anyone knows it will be a tool call.
      const content = (message: { content: string | null }) => (message.content === '' ? null : message.content);
      expect(content(streamed.choices[0]!.message)).toBe(content(direct.choices[0]!.message));
      expect(streamed.choices[0]!.message.tool_calls ?? []).toMatchObject(direct.choices[0]!.message.tool_calls ?? []);
    }
  });
});
