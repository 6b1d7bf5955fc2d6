import { decode } from 'gpt-tokenizer/encoding/o200k_base';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatMessage } from '../../../src/llm/protocol/pipeline.types.js';
import { parseSamples, sumOf } from '../../support/metrics-text.js';
import { mockerTokens } from '../../support/mocker-text.js';
import { chatPromptTokens, expectOpenAIError, projectTokenizer } from '../../support/openai-api.js';
import { openaiClient, startPipelineWithClient } from '../../support/openai-clients.js';
import { startPipeline } from '../../support/pipeline-app.js';
import type { PipelineApp } from '../../support/pipeline-app.js';
import { MODEL, send } from '../../support/requests.js';

/**
 * `POST /v1/responses` with the official `openai` client: the response object (id `resp_<request id>`,
 * its message, usage and echoed settings), its stream of typed events, and the refusals, each naming
 * the Responses parameter at fault.
 */

const RESPONSES = '/v1/responses';

let pipeline: PipelineApp;
let client: OpenAI;

beforeAll(async () => {
  ({ pipeline, client } = await startPipelineWithClient());
});
afterAll(() => pipeline.close());

/** The mocker's answer to `messages` with no seed and no limit, as text. */
function mockerAnswer(messages: ChatMessage[]): string {
  return decode(mockerTokens(projectTokenizer.encodeChat(messages), 0));
}

/** The SSE events of a raw stream body: each `event:` name with its parsed `data:`. */
function sseEvents(text: string): Array<{ event: string; data: { type: string; sequence_number: number } }> {
  expect(text.startsWith(': ok\n\n'), text).toBe(true);
  return text
    .slice(': ok\n\n'.length)
    .split('\n\n')
    .filter((block) => block !== '')
    .map((block) => {
      const [eventLine, dataLine, ...rest] = block.split('\n');
      expect(rest, block).toEqual([]);
      expect(eventLine!.startsWith('event: '), block).toBe(true);
      expect(dataLine!.startsWith('data: '), block).toBe(true);
      return {
        event: eventLine!.slice('event: '.length),
        data: JSON.parse(dataLine!.slice('data: '.length)) as { type: string; sequence_number: number },
      };
    });
}

describe('POST /v1/responses, not streamed', () => {
  it('a string input: the id, the message, output_text, usage and the echoed settings', async () => {
    const result = await client.responses.create(
      { model: MODEL, input: 'hello there' },
      { headers: { 'X-Request-Id': 'resp-plain-1' } },
    );
    const messages: ChatMessage[] = [{ role: 'user', content: 'hello there' }];
    const answer = mockerAnswer(messages);
    expect(result._request_id).toBe('resp-plain-1');
    expect(result.id).toBe('resp_resp-plain-1');
    expect(result.object).toBe('response');
    expect(result.status).toBe('completed');
    expect(result.incomplete_details).toBeNull();
    expect(Math.abs(result.completed_at! - Date.now() / 1000)).toBeLessThan(60);
    expect(result.error).toBeNull();
    expect(result.model).toBe(MODEL);
    expect(Math.abs(result.created_at - Date.now() / 1000)).toBeLessThan(60);
    expect(result.output).toEqual([
      {
        id: 'msg_resp-plain-1',
        type: 'message',
        status: 'completed',
        role: 'assistant',
        content: [{ type: 'output_text', text: answer, annotations: [], logprobs: [] }],
      },
    ]);
    // The client computes output_text from the output; the server does not send it.
    expect(result.output_text).toBe(answer);
    const promptTokens = chatPromptTokens(messages);
    const outputTokens = mockerTokens(projectTokenizer.encodeChat(messages), 0).length;
    expect(result.usage).toEqual({
      input_tokens: promptTokens,
      input_tokens_details: { cached_tokens: expect.any(Number) as number },
      output_tokens: outputTokens,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: promptTokens + outputTokens,
    });
    expect(result).toMatchObject({
      instructions: null,
      max_output_tokens: null,
      temperature: 1,
      top_p: 1,
      tools: [],
      tool_choice: 'auto',
      text: { format: { type: 'text' } },
      parallel_tool_calls: true,
      store: false,
      metadata: {},
      previous_response_id: null,
      truncation: 'disabled',
      background: false,
    });
  });

  it('the raw body has no output_text, and the x-request-id header', async () => {
    const res = await send(pipeline.url, RESPONSES, { model: MODEL, input: 'hi' }, { id: 'resp-raw-1' });
    expect(res.status, res.text).toBe(200);
    expect(res.requestId).toBe('resp-raw-1');
    expect(res.contentType).toBe('application/json; charset=utf-8');
    const body = JSON.parse(res.text) as Record<string, unknown>;
    expect(body.id).toBe('resp_resp-raw-1');
    expect('output_text' in body).toBe(false);
  });

  it('a reasoning effort is taken and echoed; a model that does not reason (the mocker) answers the same', async () => {
    const input = 'What is the capital of France?';
    const result = await client.responses.create({ model: MODEL, input, reasoning: { effort: 'low' } });
    expect(result.reasoning).toEqual({ effort: 'low', summary: null });
    expect(result.output_text).toBe(mockerAnswer([{ role: 'user', content: input }]));
  });

  it('instructions come first, as a system message', async () => {
    const result = await client.responses.create({
      model: MODEL,
      instructions: 'Answer in one word.',
      input: 'What is the capital of France?',
    });
    const messages: ChatMessage[] = [
      { role: 'system', content: 'Answer in one word.' },
      { role: 'user', content: 'What is the capital of France?' },
    ];
    expect(result.instructions).toBe('Answer in one word.');
    expect(result.output_text).toBe(mockerAnswer(messages));
    expect(result.usage!.input_tokens).toBe(chatPromptTokens(messages));
  });

  it('a list of input items: roles, text parts, an assistant output_text part, the same as chat', async () => {
    const result = await client.responses.create({
      model: MODEL,
      input: [
        { role: 'developer', content: 'You are terse.' },
        {
          type: 'message',
          role: 'user',
          content: [
            { type: 'input_text', text: 'Capital of ' },
            { type: 'input_text', text: 'France?' },
          ],
        },
        {
          type: 'message',
          id: 'msg_earlier',
          status: 'completed',
          role: 'assistant',
          content: [{ type: 'output_text', text: 'Paris.', annotations: [] }],
        },
        { role: 'user', content: 'And of Italy?' },
      ],
    });
    const messages = [
      { role: 'developer', content: 'You are terse.' },
      // Text parts are one text joined by line breaks, as chat's are.
      { role: 'user', content: 'Capital of \nFrance?' },
      { role: 'assistant', content: 'Paris.' },
      { role: 'user', content: 'And of Italy?' },
    ] satisfies ChatMessage[];
    const chat = await client.chat.completions.create({ model: MODEL, messages });
    expect(result.output_text).toBe(chat.choices[0]!.message.content);
    expect(result.output_text).toBe(mockerAnswer(messages));
    expect(result.usage!.input_tokens).toBe(chat.usage!.prompt_tokens);
  });

  it('max_output_tokens: the answer stops there, status incomplete (max_output_tokens)', async () => {
    const result = await client.responses.create(
      { model: MODEL, input: 'tell me a story', max_output_tokens: 5, temperature: 0.5, top_p: 0.9 },
      { headers: { 'X-Request-Id': 'resp-max-1' } },
    );
    expect(result.status).toBe('incomplete');
    expect(result.incomplete_details).toEqual({ reason: 'max_output_tokens' });
    // OpenAI's: "only present when the status is `completed`".
    expect(result.completed_at).toBeNull();
    expect(result.output[0]).toMatchObject({ id: 'msg_resp-max-1', status: 'incomplete' });
    expect(result.usage!.output_tokens).toBe(5);
    expect(result).toMatchObject({ max_output_tokens: 5, temperature: 0.5, top_p: 0.9 });
    const full = mockerAnswer([{ role: 'user', content: 'tell me a story' }]);
    expect(full.startsWith(result.output_text)).toBe(true);
    expect(result.output_text.length).toBeLessThan(full.length);
  });

  it('what clients send by default with nothing to do is accepted, and echoed', async () => {
    const result = await client.responses.create({
      model: MODEL,
      input: 'hi',
      store: true,
      metadata: { team: 'docs' },
      user: 'user-1',
      safety_identifier: 'hashed-1',
      prompt_cache_key: 'key-1',
      service_tier: 'auto',
      parallel_tool_calls: false,
      truncation: 'disabled',
      include: [],
      tools: [],
      tool_choice: 'auto',
      background: false,
      reasoning: null,
      previous_response_id: null,
      text: { format: { type: 'text' }, verbosity: 'medium' },
      top_logprobs: 0,
    });
    expect(result.status).toBe('completed');
    expect(result).toMatchObject({
      metadata: { team: 'docs' },
      user: 'user-1',
      safety_identifier: 'hashed-1',
      prompt_cache_key: 'key-1',
      parallel_tool_calls: false,
      store: false,
    });
  });
});

describe('POST /v1/responses, streamed', () => {
  it('the openai client: typed events in order, consecutive sequence numbers, the text and usage', async () => {
    const reference = await client.responses.create({ model: MODEL, input: 'tell me a story' });
    const {
      data: stream,
      request_id,
      response,
    } = await client.responses
      .create({ model: MODEL, input: 'tell me a story', stream: true }, { headers: { 'X-Request-Id': 'resp-sse-1' } })
      .withResponse();
    expect(request_id).toBe('resp-sse-1');
    expect(response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    const events: OpenAI.Responses.ResponseStreamEvent[] = [];
    for await (const event of stream) events.push(event);
    expect(events.map((event) => event.sequence_number)).toEqual(events.map((_, i) => i));
    const types = events.map((event) => event.type);
    const deltas = events.filter((event) => event.type === 'response.output_text.delta');
    expect(types).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      ...deltas.map(() => 'response.output_text.delta'),
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ]);
    expect(deltas.length).toBe(reference.usage!.output_tokens);
    for (const delta of deltas) {
      expect(delta).toMatchObject({ item_id: 'msg_resp-sse-1', output_index: 0, content_index: 0, logprobs: [] });
    }
    const text = deltas.map((delta) => delta.delta).join('');
    expect(text).toBe(reference.output_text);
    const created = events[0] as OpenAI.Responses.ResponseCreatedEvent;
    expect(created.response).toMatchObject({ id: 'resp_resp-sse-1', status: 'in_progress', output: [], usage: null });
    const done = events.find((event) => event.type === 'response.output_text.done');
    expect(done).toMatchObject({ text, item_id: 'msg_resp-sse-1' });
    const completed = events.at(-1) as OpenAI.Responses.ResponseCompletedEvent;
    expect(completed.response.id).toBe('resp_resp-sse-1');
    expect(completed.response.status).toBe('completed');
    expect(completed.response.output).toEqual(reference.output.map((item) => ({ ...item, id: 'msg_resp-sse-1' })));
    expect(completed.response.usage).toEqual(reference.usage);
  });

  it("the openai client's stream helper: finalResponse() has the output_text", async () => {
    const reference = await client.responses.create({ model: MODEL, input: 'a poem', max_output_tokens: 7 });
    const stream = client.responses.stream({ model: MODEL, input: 'a poem', max_output_tokens: 7 });
    let text = '';
    stream.on('response.output_text.delta', (event) => (text += event.delta));
    const final = await stream.finalResponse();
    expect(final.output_text).toBe(reference.output_text);
    expect(text).toBe(reference.output_text);
    expect(final.status).toBe('incomplete');
  });

  it('on the wire: an `event:` line naming each data type; max_output_tokens ends with response.incomplete', async () => {
    const res = await send(
      pipeline.url,
      RESPONSES,
      { model: MODEL, input: 'tell me a story', stream: true, max_output_tokens: 3 },
      { id: 'resp-wire-1' },
    );
    expect(res.status, res.text).toBe(200);
    expect(res.requestId).toBe('resp-wire-1');
    const events = sseEvents(res.text);
    for (const { event, data } of events) expect(data.type).toBe(event);
    const last = events.at(-1)!.data as unknown as OpenAI.Responses.ResponseIncompleteEvent;
    expect(last.type).toBe('response.incomplete');
    expect(last.response.incomplete_details).toEqual({ reason: 'max_output_tokens' });
    expect(last.response.completed_at).toBeNull();
    expect(last.response.usage!.output_tokens).toBe(3);
    expect(res.text).not.toContain('[DONE]');
  });
});

describe('POST /v1/responses, refused', () => {
  const cases: Array<[string, string, Record<string, unknown>]> = [
    ['no input', 'input', {}],
    ['an empty input list', 'input', { input: [] }],
    ['an input item that is not an object', 'input[0]', { input: ['hi'] }],
    ['an unknown role', 'input[0].role', { input: [{ role: 'robot', content: 'hi' }] }],
    ['content of the wrong type', 'input[0].content', { input: [{ role: 'user', content: 5 }] }],
    ['content of no parts', 'input[0].content', { input: [{ role: 'user', content: [] }] }],
    [
      'an image part',
      'input[0].content[0]',
      { input: [{ role: 'user', content: [{ type: 'input_image', image_url: 'https://example.com/a.png' }] }] },
    ],
    [
      'output_text in a user message',
      'input[0].content[0]',
      { input: [{ role: 'user', content: [{ type: 'output_text', text: 'hi' }] }] },
    ],
    [
      'a reasoning item with a field it does not have',
      'input[1].effort',
      {
        input: [
          { role: 'user', content: 'hi' },
          { type: 'reasoning', id: 'rs_1', summary: [], effort: 'high' },
        ],
      },
    ],
    [
      'a reasoning item holding an output_text part',
      'input[1].content[0]',
      {
        input: [
          { role: 'user', content: 'hi' },
          { type: 'reasoning', id: 'rs_1', summary: [], content: [{ type: 'output_text', text: 'hm' }] },
        ],
      },
    ],
    [
      'a reasoning summary that is not a list',
      'input[1].summary',
      {
        input: [
          { role: 'user', content: 'hi' },
          { type: 'reasoning', id: 'rs_1', summary: 'hm' },
        ],
      },
    ],
    ['an item reference', 'input[0].type', { input: [{ type: 'item_reference', id: 'msg_1' }] }],
    ['max_output_tokens 0', 'max_output_tokens', { input: 'hi', max_output_tokens: 0 }],
    ['temperature 3', 'temperature', { input: 'hi', temperature: 3 }],
    ['top_p 2', 'top_p', { input: 'hi', top_p: 2 }],
    ['instructions not a string', 'instructions', { input: 'hi', instructions: ['x'] }],
    ['previous_response_id', 'previous_response_id', { input: 'hi', previous_response_id: 'resp_1' }],
    ['conversation', 'conversation', { input: 'hi', conversation: 'conv_1' }],
    ['background', 'background', { input: 'hi', background: true }],
    ['a reasoning effort OpenAI does not define', 'reasoning.effort', { input: 'hi', reasoning: { effort: 'max' } }],
    ['a reasoning summary', 'reasoning.summary', { input: 'hi', reasoning: { summary: 'auto' } }],
    ['a reasoning setting OpenAI does not define', 'reasoning.depth', { input: 'hi', reasoning: { depth: 2 } }],
    ['truncation auto', 'truncation', { input: 'hi', truncation: 'auto' }],
    ['an include', 'include[0]', { input: 'hi', include: ['reasoning.encrypted_content'] }],
    ['tools not a list', 'tools', { input: 'hi', tools: { type: 'function', name: 'f' } }],
    ['tool_choice required without tools', 'tool_choice', { input: 'hi', tool_choice: 'required' }],
    ['a text format without a type', 'text.format', { input: 'hi', text: { format: { name: 'x' } } }],
    ['top_logprobs out of range', 'top_logprobs', { input: 'hi', top_logprobs: 21 }],
    [
      'stream_options without stream',
      'stream_options',
      { input: 'hi', stream_options: { include_obfuscation: false } },
    ],
    ['an unknown parameter', 'messages', { input: 'hi', messages: [] }],
    ['metadata with a number', 'metadata', { input: 'hi', metadata: { a: 1 } }],
  ];
  it.each(cases)('%s: 400 naming `%s`', async (_, param, extra) => {
    for (const stream of [false, true]) {
      const res = await send(pipeline.url, RESPONSES, { model: MODEL, ...extra, ...(stream ? { stream } : {}) });
      expectOpenAIError(res, 400, { param: param === 'stream_options' && stream ? null : param });
      if (param === 'stream_options') break;
    }
  });

  it('a stored response asked for by id (retrieve, input items, cancel, delete): 404, none is stored', async () => {
    const asks: Array<[string, () => Promise<unknown>]> = [
      ['retrieve', () => client.responses.retrieve('resp_earlier', {}, { headers: { 'X-Request-Id': 'resp-get' } })],
      [
        'input items',
        () => client.responses.inputItems.list('resp_earlier', {}, { headers: { 'X-Request-Id': 'resp-get' } }),
      ],
      ['cancel', () => client.responses.cancel('resp_earlier', { headers: { 'X-Request-Id': 'resp-get' } })],
      ['delete', () => client.responses.delete('resp_earlier', { headers: { 'X-Request-Id': 'resp-get' } })],
    ];
    for (const [ask, call] of asks) {
      const error = await call().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error, ask).toBeInstanceOf(OpenAI.NotFoundError);
      const err = error as InstanceType<typeof OpenAI.NotFoundError>;
      expect(err.requestID, ask).toBe('resp-get');
      expect(err.message, ask).toContain("Response with id 'resp_earlier' not found: this server stores no responses");
    }
  });

  it('reasoning items alone: 400 naming `input`, saying there is no message to answer', async () => {
    const input = [{ type: 'reasoning', id: 'rs_1', summary: [], content: [{ type: 'reasoning_text', text: 'hm' }] }];
    const res = await send(pipeline.url, RESPONSES, { model: MODEL, input });
    expectOpenAIError(res, 400, { param: 'input' });
    expect(res.text).toContain('reasoning items alone give the model nothing to answer');
  });

  it('the openai client: BadRequestError naming the parameter', async () => {
    const error = await client.responses
      .create(
        { model: MODEL, input: 'hi', previous_response_id: 'resp_earlier' },
        { headers: { 'X-Request-Id': 'resp-400' } },
      )
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    const err = error as InstanceType<typeof OpenAI.BadRequestError>;
    expect(err.requestID).toBe('resp-400');
    expect(err.param).toBe('previous_response_id');
    expect(err.code).toBe('unsupported_parameter');
  });

  it('an unknown model: 404 model_not_found, streamed or not, before any event', async () => {
    for (const stream of [false, true]) {
      const error = await client.responses
        .create({ model: 'gpt-nope', input: 'hi', stream }, { headers: { 'X-Request-Id': `resp-404-${stream}` } })
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(error).toBeInstanceOf(OpenAI.NotFoundError);
      const err = error as InstanceType<typeof OpenAI.NotFoundError>;
      expect(err.requestID).toBe(`resp-404-${stream}`);
      expect(err.code).toBe('model_not_found');
      expect(err.param).toBe('model');
    }
  });

  it('requests are counted under endpoint="responses"', async () => {
    const res = await send(pipeline.url, '/metrics', undefined, { method: 'GET' });
    const samples = parseSamples(res.text);
    const count = (status: string) => sumOf(samples, 'threadline_requests_total', { endpoint: 'responses', status });
    expect(count('200')).toBeGreaterThan(0);
    expect(count('404')).toBeGreaterThan(0);
  });
});

describe('POST /v1/responses, limits of the service', () => {
  let small: PipelineApp;
  beforeAll(async () => {
    small = await startPipeline({
      THREADLINE_MAX_MODEL_LEN: '64',
      THREADLINE_REQUEST_TIMEOUT_MS: '400',
      MOCKER_DECODE_MS_PER_TOKEN: '100',
    });
  });
  afterAll(() => small.close());

  it('an input too long for the context: 400 context_length_exceeded naming `input`', async () => {
    const res = await send(small.url, RESPONSES, { model: MODEL, input: 'word '.repeat(200) });
    expectOpenAIError(res, 400, { param: 'input', code: 'context_length_exceeded' });
  });

  it('past the deadline mid-stream: an error event with the request id, then response.failed', async () => {
    const res = await send(small.url, RESPONSES, { model: MODEL, input: 'hi', stream: true }, { id: 'resp-late-1' });
    expect(res.status).toBe(200);
    const events = sseEvents(res.text);
    expect(events.map((event) => event.data.sequence_number)).toEqual(events.map((_, i) => i));
    const [error, failed] = events.slice(-2).map((event) => event.data as unknown as Record<string, unknown>);
    expect(error).toMatchObject({ type: 'error', code: 'deadline_exceeded' });
    expect(error!.message).toContain('(request id resp-late-1)');
    expect(failed).toMatchObject({
      type: 'response.failed',
      response: { id: 'resp_resp-late-1', status: 'failed', error: { code: 'deadline_exceeded' } },
    });
    // Its one line says the deadline passed: the client did not go away.
    const loud = small.logs.forRequest('resp-late-1').filter((line) => line.level >= 40);
    expect(loud.map((line) => [line.level, line.msg, line.code])).toEqual([
      [40, expect.stringMatching(/^request refused: The request's deadline passed/), 'deadline_exceeded'],
    ]);
  });

  it('the openai client raises the error event as an APIError', async () => {
    const late = openaiClient(small.url);
    const stream = await late.responses.create(
      { model: MODEL, input: 'hi', stream: true },
      { headers: { 'X-Request-Id': 'resp-late-2' } },
    );
    const types: string[] = [];
    const error = await (async () => {
      for await (const event of stream) types.push(event.type);
    })().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect((error as InstanceType<typeof OpenAI.APIError>).message).toContain('(request id resp-late-2)');
    expect(types.slice(0, 2)).toEqual(['response.created', 'response.in_progress']);
  });
});
