import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectOpenAIError, postJson } from '../../support/openai-api.js';
import type { ChatCompletion } from '../../support/openai-api.js';
import { openaiClient, startPipelineWithClient } from '../../support/openai-clients.js';
import { startPipeline } from '../../support/pipeline-app.js';
import type { PipelineApp } from '../../support/pipeline-app.js';
import { UUID_V4 } from '../../support/raw-http.js';
import { CHAT, COMPLETIONS, MODEL, send } from '../../support/requests.js';

/**
 * Bad requests: OpenAI error bodies with the right status, param and code, and the request id.
 */

let pipeline: PipelineApp;
let client: OpenAI;

beforeAll(async () => {
  ({ pipeline, client } = await startPipelineWithClient());
});
afterAll(() => pipeline.close());

describe('bad requests: OpenAI error bodies, the right status, the request id', () => {
  interface BadCase {
    name: string;
    path?: string;
    body: string | object;
    status: number;
    param: string | null;
    code: string | null;
    message: string;
  }

  const chat = (extra: Record<string, unknown>) => ({
    model: MODEL,
    messages: [{ role: 'user', content: 'hi' }],
    ...extra,
  });
  const invalid = 'invalid_request_error';
  const CASES: BadCase[] = [
    {
      name: 'malformed JSON',
      body: '{"model": "threadline-mocker", "messages": [',
      status: 400,
      param: null,
      code: null,
      message: "Body is not valid JSON but content-type is set to 'application/json'",
    },
    {
      name: 'body is an array',
      body: '[1, 2]',
      status: 400,
      param: null,
      code: invalid,
      message: 'The request body must be a JSON object.',
    },
    {
      name: 'body is a string',
      body: '"hello"',
      status: 400,
      param: null,
      code: invalid,
      message: 'The request body must be a JSON object.',
    },
    {
      name: 'body is null',
      body: 'null',
      status: 400,
      param: null,
      code: invalid,
      message: 'The request body must be a JSON object.',
    },
    {
      name: 'missing model',
      body: { messages: [{ role: 'user', content: 'hi' }] },
      status: 400,
      param: 'model',
      code: invalid,
      message: 'model is required and must be a string.',
    },
    {
      name: 'model not a string',
      body: chat({ model: 42 }),
      status: 400,
      param: 'model',
      code: invalid,
      message: 'model is required and must be a string.',
    },
    {
      name: 'unknown model',
      body: chat({ model: 'gpt-4o' }),
      status: 404,
      param: 'model',
      code: 'model_not_found',
      message: 'The model `gpt-4o` does not exist. This server serves `threadline-mocker`.',
    },
    {
      name: 'unknown model (completions)',
      path: COMPLETIONS,
      body: { model: 'gpt-4o', prompt: 'hi' },
      status: 404,
      param: 'model',
      code: 'model_not_found',
      message: 'The model `gpt-4o` does not exist. This server serves `threadline-mocker`.',
    },
    {
      name: 'messages not an array',
      body: chat({ messages: 'hi' }),
      status: 400,
      param: 'messages',
      code: invalid,
      message: 'messages must be a non-empty array of messages.',
    },
    {
      name: 'messages empty',
      body: chat({ messages: [] }),
      status: 400,
      param: 'messages',
      code: invalid,
      message: 'messages must be a non-empty array of messages.',
    },
    {
      name: 'messages missing',
      body: { model: MODEL },
      status: 400,
      param: 'messages',
      code: invalid,
      message: 'messages must be a non-empty array of messages.',
    },
    {
      name: 'a message with a bad role',
      body: chat({
        messages: [
          { role: 'user', content: 'hi' },
          { role: 'wizard', content: 'hi' },
        ],
      }),
      status: 400,
      param: 'messages[1].role',
      code: invalid,
      message: 'messages[1].role must be one of system, developer, user, assistant, tool.',
    },
    {
      name: 'temperature "hot"',
      body: chat({ temperature: 'hot' }),
      status: 400,
      param: 'temperature',
      code: invalid,
      message: 'temperature must be a number from 0 to 2.',
    },
    {
      name: 'temperature 5',
      body: chat({ temperature: 5 }),
      status: 400,
      param: 'temperature',
      code: invalid,
      message: 'temperature must be a number from 0 to 2.',
    },
    {
      name: 'n 0',
      body: chat({ n: 0 }),
      status: 400,
      param: 'n',
      code: invalid,
      message: 'n must be a whole number from 1 to 16.',
    },
    {
      name: 'n 17',
      body: chat({ n: 17 }),
      status: 400,
      param: 'n',
      code: invalid,
      message: 'n must be a whole number from 1 to 16.',
    },
    {
      name: 'max_tokens 0',
      body: chat({ max_tokens: 0 }),
      status: 400,
      param: 'max_tokens',
      code: invalid,
      message: 'max_tokens must be a whole number at least 1.',
    },
    {
      name: 'max_tokens 1.5',
      body: chat({ max_tokens: 1.5 }),
      status: 400,
      param: 'max_tokens',
      code: invalid,
      message: 'max_tokens must be a whole number at least 1.',
    },
    {
      name: 'max_tokens 0 (completions)',
      path: COMPLETIONS,
      body: { model: MODEL, prompt: 'hi', max_tokens: 0 },
      status: 400,
      param: 'max_tokens',
      code: invalid,
      message: 'max_tokens must be a whole number at least 1.',
    },
    {
      name: 'max_completion_tokens 0',
      body: chat({ max_completion_tokens: 0 }),
      status: 400,
      param: 'max_completion_tokens',
      code: invalid,
      message: 'max_completion_tokens must be a whole number at least 1.',
    },
    {
      name: 'stop with 5 strings',
      body: chat({ stop: ['a', 'b', 'c', 'd', 'e'] }),
      status: 400,
      param: 'stop',
      code: invalid,
      message: 'stop must be a non-empty string or an array of up to 4 non-empty strings.',
    },
    {
      name: 'stream_options with stream false',
      body: chat({ stream: false, stream_options: { include_usage: true } }),
      status: 400,
      param: 'stream_options',
      code: invalid,
      message: 'stream_options is only allowed when stream is true.',
    },
    {
      name: 'stream_options without stream',
      body: chat({ stream_options: { include_usage: true } }),
      status: 400,
      param: 'stream_options',
      code: invalid,
      message: 'stream_options is only allowed when stream is true.',
    },
    {
      name: 'a key stream_options does not define',
      body: chat({ stream: true, stream_options: { include_usage: true, include_obfuscation: true } }),
      status: 400,
      param: 'stream_options.include_obfuscation',
      code: 'unknown_parameter',
      message: 'Unrecognized argument stream_options.include_obfuscation.',
    },
    {
      name: "vLLM's continuous_usage_stats not a boolean",
      path: COMPLETIONS,
      body: { model: MODEL, prompt: 'p', stream: true, stream_options: { continuous_usage_stats: 'yes' } },
      status: 400,
      param: 'stream_options.continuous_usage_stats',
      code: invalid,
      message: 'stream_options.continuous_usage_stats must be a boolean.',
    },
    {
      name: 'a bad parameter on a stream request is still a plain JSON error',
      body: chat({ stream: true, temperature: 'hot' }),
      status: 400,
      param: 'temperature',
      code: invalid,
      message: 'temperature must be a number from 0 to 2.',
    },
    {
      name: 'a user message without content',
      body: { model: MODEL, messages: [{ role: 'user', content: null }] },
      status: 400,
      param: 'messages[0].content',
      code: invalid,
      message: 'messages[0].content is required: a string or an array of text parts.',
    },
    {
      name: 'a user message whose content is an empty array',
      body: { model: MODEL, messages: [{ role: 'user', content: [] }] },
      status: 400,
      param: 'messages[0].content',
      code: invalid,
      message: 'messages[0].content must hold at least one text part.',
    },
    {
      name: 'a tool message that answers no call made before it',
      body: {
        model: MODEL,
        messages: [
          { role: 'user', content: 'hi' },
          { role: 'tool', tool_call_id: 'nope', content: 'b' },
        ],
      },
      status: 400,
      param: 'messages[1].tool_call_id',
      code: invalid,
      message: "messages[1].tool_call_id: no assistant message before it has a tool call with the id 'nope'.",
    },
    {
      name: 'an assistant message whose tool calls the next messages do not all answer',
      body: {
        model: MODEL,
        messages: [
          { role: 'user', content: 'weather in Paris and Rome?' },
          {
            role: 'assistant',
            content: null,
            tool_calls: [
              { id: 'call_p', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } },
              { id: 'call_r', type: 'function', function: { name: 'weather', arguments: '{"city":"Rome"}' } },
            ],
          },
          { role: 'tool', tool_call_id: 'call_p', content: 'sunny' },
          { role: 'user', content: 'and?' },
        ],
      },
      status: 400,
      param: 'messages[1].tool_calls',
      code: invalid,
      message:
        "messages[1]: an assistant message with tool_calls must be followed by tool messages answering each call; none answers 'call_r'.",
    },
    {
      name: 'tool calls left unanswered by the last message',
      body: {
        model: MODEL,
        messages: [
          { role: 'user', content: 'weather?' },
          {
            role: 'assistant',
            tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'weather', arguments: '{}' } }],
          },
        ],
      },
      status: 400,
      param: 'messages[1].tool_calls',
      code: invalid,
      message:
        "messages[1]: an assistant message with tool_calls must be followed by tool messages answering each call; none answers 'call_1'.",
    },
    {
      name: "a message's name that is not a string",
      body: { model: MODEL, messages: [{ role: 'user', content: 'hi', name: 5 }] },
      status: 400,
      param: 'messages[0].name',
      code: invalid,
      message: 'messages[0].name must be a string.',
    },
    {
      name: 'an assistant message with neither content nor tool calls',
      body: { model: MODEL, messages: [{ role: 'user', content: 'hi' }, { role: 'assistant' }] },
      status: 400,
      param: 'messages[1].content',
      code: invalid,
      message: 'messages[1].content is required unless the message has tool_calls or a refusal.',
    },
    {
      name: 'a field OpenAI takes and this server drops, of the wrong type',
      body: chat({ user: 5 }),
      status: 400,
      param: 'user',
      code: invalid,
      message: 'user must be a string.',
    },
    {
      name: 'an empty prompt list',
      path: COMPLETIONS,
      body: { model: MODEL, prompt: [] },
      status: 400,
      param: 'prompt',
      code: invalid,
      message: 'prompt must not be empty.',
    },
    {
      name: 'a seed past what a JSON number holds exactly',
      body: chat({ seed: 2 ** 63 }),
      status: 400,
      param: 'seed',
      code: invalid,
      message: 'seed must be a whole number from -9007199254740991 to 9007199254740991.',
    },
    {
      name: 'a batch of two token lists',
      path: COMPLETIONS,
      body: { model: MODEL, prompt: [[1, 2], [3]] },
      status: 400,
      param: 'prompt',
      code: invalid,
      message: 'Batched prompts are not supported: send one prompt per request.',
    },
    {
      name: 'an empty token list in a batch',
      path: COMPLETIONS,
      body: { model: MODEL, prompt: [[]] },
      status: 400,
      param: 'prompt',
      code: invalid,
      message: 'prompt must not be empty.',
    },
    {
      name: 'a prompt of mixed shapes',
      path: COMPLETIONS,
      body: { model: MODEL, prompt: ['a', [1]] },
      status: 400,
      param: 'prompt',
      code: invalid,
      message: 'prompt must be a string, an array of token ids, or a batch of one of either.',
    },
    {
      name: 'a token id outside the vocabulary',
      path: COMPLETIONS,
      body: { model: MODEL, prompt: [1, 2, 300000] },
      status: 400,
      param: 'prompt',
      code: invalid,
      message: 'Token id 300000 is outside the vocabulary (0-200018).',
    },
  ];

  it.each(CASES)('$name → $status', async ({ path = CHAT, body, status, param, code, message }) => {
    const id = `bad-${Math.random().toString(36).slice(2, 10)}`;
    const res = await send(pipeline.url, path, body, { id });
    expect(res.requestId).toBe(id);
    const error = expectOpenAIError(res, status, { param, code });
    expect(error.message).toBe(message);
  });

  it('a form or text body (curl -d without a content type, a page without a preflight) → 415, its text neither parsed nor repeated', async () => {
    const text = JSON.stringify(chat({ messages: [{ role: 'user', content: 'secret prompt' }] }));
    const cases: Array<{ body: string; headers: Record<string, string> }> = [
      { body: text, headers: { 'content-type': 'application/x-www-form-urlencoded' } },
      { body: 'model=threadline-mocker&prompt=hi', headers: { 'content-type': 'application/x-www-form-urlencoded' } },
      { body: text, headers: { 'content-type': 'text/plain' } },
      { body: text, headers: { 'content-type': 'text/plain;charset=UTF-8' } },
      // JSON, but said to be compressed: read as it is, it would not be what the client meant.
      { body: text, headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' } },
    ];
    for (const { body, headers } of cases) {
      const res = await send(pipeline.url, COMPLETIONS, body, { id: 'form-1', headers });
      expect(res.requestId).toBe('form-1');
      expectOpenAIError(res, 415, {
        param: null,
        code: 'unsupported_media_type',
        message: 'The request body must be JSON, sent with Content-Type: application/json and no Content-Encoding.',
      });
      expect(res.text).not.toContain('secret');
    }
    // `identity` is no encoding at all.
    const plain = await send(pipeline.url, CHAT, text, {
      headers: { 'content-type': 'application/json', 'content-encoding': 'identity' },
    });
    expect(plain.status).toBe(200);
  });

  it('without X-Request-Id an error still carries a generated UUIDv4', async () => {
    const res = await send(pipeline.url, CHAT, chat({ n: 0 }));
    expect(res.requestId).toMatch(UUID_V4);
    expectOpenAIError(res, 400, { param: 'n' });
  });

  it('an unknown route /v1/nope → 404 with an OpenAI error body', async () => {
    const post = await send(pipeline.url, '/v1/nope', chat({}), { id: 'nope-1' });
    expect(post.requestId).toBe('nope-1');
    expectOpenAIError(post, 404, { param: null, code: 'not_found', message: 'Cannot POST /v1/nope' });
    const get = await send(pipeline.url, '/v1/nope', undefined, { id: 'nope-2', method: 'GET' });
    expect(get.requestId).toBe('nope-2');
    expectOpenAIError(get, 404, { param: null, code: 'not_found', message: 'Cannot GET /v1/nope' });
  });

  describe('a body over MAX_BODY_BYTES', () => {
    let small: PipelineApp;
    beforeAll(async () => {
      small = await startPipeline({ MAX_BODY_BYTES: '2048' });
    });
    afterAll(() => small.close());

    it('4 KB against a 2048-byte limit → 413, an OpenAI error body, the id echoed', async () => {
      const body = JSON.stringify(chat({ messages: [{ role: 'user', content: 'x'.repeat(4096) }] }));
      expect(body.length).toBeGreaterThan(4096);
      const res = await send(small.url, CHAT, body, { id: 'too-big-1' });
      expect(res.requestId).toBe('too-big-1');
      expectOpenAIError(res, 413, { param: null, code: 'request_too_large', message: 'Request body is too large' });
    });

    it('a body under the limit is still served', async () => {
      const { res } = await postJson<ChatCompletion>(small.url, CHAT, chat({ max_tokens: 2 }), 'small-ok-1');
      expect(res.requestId).toBe('small-ok-1');
    });

    it('the openai client sees the 413 with its requestID', async () => {
      const smallClient = openaiClient(small.url);
      const error = await smallClient.chat.completions
        .create(
          { model: MODEL, messages: [{ role: 'user', content: 'y'.repeat(4096) }] },
          { headers: { 'X-Request-Id': 'too-big-2' } },
        )
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(error).toBeInstanceOf(OpenAI.APIError);
      const err = error as InstanceType<typeof OpenAI.APIError>;
      expect(err.status).toBe(413);
      expect(err.requestID).toBe('too-big-2');
      expect(err.code).toBe('request_too_large');
    });
  });

  it('the openai client: a bad request surfaces err.requestID and the body fields', async () => {
    const error = await client.chat.completions
      .create({ model: MODEL, messages: [], n: 3 }, { headers: { 'X-Request-Id': 'sdk-bad-1' } })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    const err = error as InstanceType<typeof OpenAI.BadRequestError>;
    expect(err.requestID).toBe('sdk-bad-1');
    expect(err.error).toEqual({
      message: 'messages must be a non-empty array of messages.',
      type: 'invalid_request_error',
      param: 'messages',
      code: 'invalid_request_error',
    });
  });
});
