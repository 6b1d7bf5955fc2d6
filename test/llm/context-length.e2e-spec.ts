import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failing, scriptedStream, startFakeUpstream } from '../support/fake-upstream.js';
import type { UpstreamAnswer } from '../support/fake-upstream.js';
import { waitForLine } from '../support/log-capture.js';
import { Tokenizer } from '../../src/llm/processor/tokenizer.js';
import { startPipeline } from '../support/pipeline-app.js';
import type { ChatCompletion } from '../support/openai-api.js';
import type { PipelineApp } from '../support/pipeline-app.js';
import { CHAT, COMPLETIONS, MODEL, send } from '../support/requests.js';
import type { ErrorBody, Reply } from '../support/requests.js';
import { startFromSource } from '../support/service-process.js';

/**
 * THREADLINE_MAX_MODEL_LEN, over real sockets: a prompt whose tokens plus its
 * completion's do not fit is refused before any routing with OpenAI's 400 `context_length_exceeded`,
 * a plain JSON error even on a stream request; one that fits is served.
 */

const LIMIT = 64;

/** The 400 of a prompt too long for the context: OpenAI's body, the id in the header and in the message. */
function expectContextLengthExceeded(reply: Reply, id: string, param: 'messages' | 'prompt'): string {
  expect(reply.status, reply.text).toBe(400);
  expect(reply.requestId).toBe(id);
  expect(reply.contentType).toBe('application/json; charset=utf-8');
  const { error } = JSON.parse(reply.text) as ErrorBody;
  expect(error).toMatchObject({ type: 'invalid_request_error', param, code: 'context_length_exceeded' });
  expect(error.message).toContain(`(request id ${id})`);
  return error.message;
}

const tokenizer = new Tokenizer();

/** A user message whose chat template is exactly `tokens` tokens long. */
function messagesOf(tokens: number): Array<{ role: 'user'; content: string }> {
  const overhead = tokenizer.encodeChat([{ role: 'user', content: '' }]).length;
  const messages = [{ role: 'user' as const, content: ' hello'.repeat(tokens - overhead) }];
  expect(tokenizer.encodeChat(messages)).toHaveLength(tokens);
  return messages;
}

/** A completion prompt of exactly `tokens` tokens. */
function promptOf(tokens: number): string {
  const prompt = ' hello'.repeat(tokens);
  expect(tokenizer.encode(prompt)).toHaveLength(tokens);
  return prompt;
}

describe(`a context of THREADLINE_MAX_MODEL_LEN=${LIMIT} tokens`, () => {
  let pipeline: PipelineApp;
  beforeAll(async () => {
    pipeline = await startPipeline({ THREADLINE_MAX_MODEL_LEN: String(LIMIT), LOG_LEVEL: 'debug' });
  });
  afterAll(() => pipeline.close());

  /** Only the Frontend and the Processor handled the request: no Router, no Worker. */
  function expectNeverRouted(id: string): void {
    const components = new Set(pipeline.logs.forRequest(id).map((line) => line.component));
    expect(components.has('processor')).toBe(true);
    expect(components.has('router')).toBe(false);
    expect(components.has('worker')).toBe(false);
  }

  it.each([
    { stream: false, id: 'ctx-chat-1' },
    { stream: true, id: 'ctx-chat-stream-1' },
  ])(
    'chat (stream: $stream): 400 context_length_exceeded naming the limit, the tokens asked for, the messages and the completion',
    async ({ stream, id }) => {
      const reply = await send(
        pipeline.url,
        CHAT,
        { model: MODEL, messages: messagesOf(60), max_tokens: 10, stream },
        { id },
      );
      const message = expectContextLengthExceeded(reply, id, 'messages');
      expect(message).toBe(
        `This model's maximum context length is ${LIMIT} tokens. However, you requested 70 tokens (60 in the messages, 10 in the completion). ` +
          `Please reduce the length of the messages or completion. (request id ${id})`,
      );
      // A stream refused before its first byte: a plain JSON error, no SSE.
      expect(reply.text.startsWith('{"error":')).toBe(true);
      expectNeverRouted(id);
    },
  );

  it.each([
    { stream: false, id: 'ctx-cmpl-1' },
    { stream: true, id: 'ctx-cmpl-stream-1' },
  ])(
    'completions (stream: $stream): 400 context_length_exceeded naming the prompt and the completion',
    async ({ stream, id }) => {
      const reply = await send(
        pipeline.url,
        COMPLETIONS,
        { model: MODEL, prompt: promptOf(50), max_tokens: 20, stream },
        { id },
      );
      const message = expectContextLengthExceeded(reply, id, 'prompt');
      expect(message).toContain(
        `maximum context length is ${LIMIT} tokens. However, you requested 70 tokens (50 in the prompt, 20 in the completion).`,
      );
      expectNeverRouted(id);
    },
  );

  it('counts max_completion_tokens as the completion of a chat', async () => {
    const reply = await send(
      pipeline.url,
      CHAT,
      { model: MODEL, messages: messagesOf(40), max_completion_tokens: 30 },
      { id: 'ctx-mct-1' },
    );
    expect(expectContextLengthExceeded(reply, 'ctx-mct-1', 'messages')).toContain(
      'you requested 70 tokens (40 in the messages, 30 in the completion)',
    );
  });

  it('holds a prompt of token ids to the limit too', async () => {
    const reply = await send(
      pipeline.url,
      COMPLETIONS,
      { model: MODEL, prompt: Array.from({ length: 70 }, () => 15339) },
      { id: 'ctx-ids-1' },
    );
    expect(expectContextLengthExceeded(reply, 'ctx-ids-1', 'prompt')).toContain('your prompt resulted in 70 tokens');
  });

  it('serves a prompt and completion that fill the context exactly, and refuses one token more', async () => {
    const fits = await send(
      pipeline.url,
      CHAT,
      { model: MODEL, messages: messagesOf(LIMIT - 4), max_tokens: 4 },
      { id: 'ctx-fits-1' },
    );
    expect(fits.status, fits.text).toBe(200);
    expect((JSON.parse(fits.text) as ChatCompletion).usage.prompt_tokens).toBe(LIMIT - 4);
    const over = await send(
      pipeline.url,
      CHAT,
      { model: MODEL, messages: messagesOf(LIMIT - 3), max_tokens: 4 },
      { id: 'ctx-over-1' },
    );
    expect(expectContextLengthExceeded(over, 'ctx-over-1', 'messages')).toContain(
      `you requested ${LIMIT + 1} tokens (${LIMIT - 3} in the messages, 4 in the completion)`,
    );
  });

  it('without max_tokens, serves a prompt that leaves room for one token, and refuses one that fills the context', async () => {
    const fits = await send(
      pipeline.url,
      COMPLETIONS,
      { model: MODEL, prompt: promptOf(LIMIT - 1) },
      { id: 'ctx-room-1' },
    );
    expect(fits.status, fits.text).toBe(200);
    // The completion has the one token of room left, and no more: the context's end is its length.
    expect(JSON.parse(fits.text)).toMatchObject({
      choices: [{ finish_reason: 'length' }],
      usage: { prompt_tokens: LIMIT - 1, completion_tokens: 1, total_tokens: LIMIT },
    });
    const full = await send(pipeline.url, COMPLETIONS, { model: MODEL, prompt: promptOf(LIMIT) }, { id: 'ctx-full-1' });
    expect(expectContextLengthExceeded(full, 'ctx-full-1', 'prompt')).toBe(
      `This model's maximum context length is ${LIMIT} tokens. However, your prompt resulted in ${LIMIT} tokens, which leaves no room for the completion. ` +
        'Please reduce the length of the prompt. (request id ctx-full-1)',
    );
  });

  it('without max_tokens, ends a chat where the context ends, streamed or not', async () => {
    for (const stream of [false, true]) {
      const reply = await send(
        pipeline.url,
        CHAT,
        {
          model: MODEL,
          messages: messagesOf(LIMIT - 3),
          stream,
          ...(stream && { stream_options: { include_usage: true } }),
        },
        { id: `ctx-default-${stream}` },
      );
      expect(reply.status, reply.text).toBe(200);
      const usage = stream
        ? (
            JSON.parse(
              reply.text
                .split('\n\n')
                .filter((event) => event.includes('"usage":{'))
                .at(-1)!
                .slice(6),
            ) as {
              usage: unknown;
            }
          ).usage
        : (JSON.parse(reply.text) as { usage: unknown }).usage;
      expect(usage).toMatchObject({ prompt_tokens: LIMIT - 3, completion_tokens: 3, total_tokens: LIMIT });
      expect(reply.text).toContain('"finish_reason":"length"');
    }
  });

  it('refuses a prompt whose size alone exceeds the context before tokenizing it, with the least it could be', async () => {
    // 128 bytes is the longest token, so 100 × 128 bytes are at least 100 tokens.
    const reply = await send(
      pipeline.url,
      COMPLETIONS,
      { model: MODEL, prompt: 'z'.repeat(100 * 128), max_tokens: 5 },
      { id: 'ctx-size-1' },
    );
    expect(expectContextLengthExceeded(reply, 'ctx-size-1', 'prompt')).toContain(
      'you requested at least 105 tokens (at least 100 in the prompt, 5 in the completion)',
    );
  });

  it('the openai client sees a BadRequestError with the code, the param and the request id', async () => {
    const client = new OpenAI({ baseURL: `${pipeline.url}/v1`, apiKey: 'test', maxRetries: 0 });
    const error = await client.chat.completions
      .create(
        { model: MODEL, messages: messagesOf(60), max_tokens: 10, stream: true },
        { headers: { 'X-Request-Id': 'ctx-sdk-1' } },
      )
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    const err = error as InstanceType<typeof OpenAI.BadRequestError>;
    expect({ status: err.status, requestID: err.requestID, code: err.code, param: err.param }).toEqual({
      status: 400,
      requestID: 'ctx-sdk-1',
      code: 'context_length_exceeded',
      param: 'messages',
    });
  });
});

describe('the default context length', () => {
  let pipeline: PipelineApp;
  beforeAll(async () => {
    pipeline = await startPipeline();
  });
  afterAll(() => pipeline.close());

  it('is 8192 tokens', async () => {
    const fits = await send(
      pipeline.url,
      COMPLETIONS,
      { model: MODEL, prompt: promptOf(8000), max_tokens: 192 },
      { id: 'ctx-default-1' },
    );
    expect(fits.status, fits.text).toBe(200);
    const over = await send(
      pipeline.url,
      COMPLETIONS,
      { model: MODEL, prompt: promptOf(8000), max_tokens: 193 },
      { id: 'ctx-default-2' },
    );
    expect(expectContextLengthExceeded(over, 'ctx-default-2', 'prompt')).toContain(
      "This model's maximum context length is 8192 tokens. However, you requested 8193 tokens",
    );
  });
});

describe('with the openai engine', () => {
  /** An upstream whose GET /v1/models lists the model with `max_model_len` (or none); it fails every generation. */
  async function upstreamReporting(maxModelLen: number | null) {
    const upstream = await startFakeUpstream(failing(500, 'not in this test'), { maxModelLen });
    return { ...upstream, generations: () => upstream.received.map((r) => `${r.method} ${r.url}`) };
  }

  it("holds prompts to the upstream's max_model_len when its /v1/models reports one, and sends it nothing it refuses", async () => {
    const upstream = await upstreamReporting(40);
    const pipeline = await startPipeline({
      THREADLINE_ENGINE: 'openai',
      UPSTREAM_URL: upstream.url,
      THREADLINE_MAX_MODEL_LEN: '100000',
    });
    try {
      // Looked up in the background, as the service starts.
      await waitForLine(pipeline.logs, (line) => String(line.msg).startsWith('context length: 40 tokens'));
      const reply = await send(
        pipeline.url,
        COMPLETIONS,
        { model: MODEL, prompt: promptOf(35), max_tokens: 10 },
        { id: 'ctx-up-1' },
      );
      expect(expectContextLengthExceeded(reply, 'ctx-up-1', 'prompt')).toContain(
        "This model's maximum context length is 40 tokens. However, you requested 45 tokens",
      );
      expect(upstream.generations()).toEqual([]);
      // One that fits goes to the upstream (which fails it here: the point is that it was sent).
      expect(
        (
          await send(
            pipeline.url,
            COMPLETIONS,
            { model: MODEL, prompt: promptOf(30), max_tokens: 10 },
            { id: 'ctx-up-2' },
          )
        ).status,
      ).toBe(502);
      expect(upstream.generations()).toEqual(['POST /v1/completions']);
    } finally {
      await pipeline.close();
      await upstream.close();
    }
  });

  it('an upstream not up at start-up: THREADLINE_MAX_MODEL_LEN until its /v1/models answers, tried again in the background, then its max_model_len', async () => {
    let lookups = 0;
    const answer: UpstreamAnswer = (req, res) => {
      if (req.url !== '/v1/models') return failing(500, 'not in this test')(req, res, undefined);
      lookups++;
      if (lookups === 1) return failing(503, 'loading the model')(req, res, undefined);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ object: 'list', data: [{ id: MODEL, object: 'model', max_model_len: 40 }] }));
    };
    const upstream = await startFakeUpstream(answer);
    const pipeline = await startPipeline({
      THREADLINE_ENGINE: 'openai',
      UPSTREAM_URL: upstream.url,
      THREADLINE_MAX_MODEL_LEN: '100000',
    });
    try {
      await waitForLine(pipeline.logs, (line) => String(line.msg).includes('GET /models answered 503'));
      await waitForLine(pipeline.logs, (line) => String(line.msg).startsWith('context length: 40 tokens'), {
        timeoutMs: 5_000,
      });
      expect(lookups).toBe(2);
      const reply = await send(
        pipeline.url,
        COMPLETIONS,
        { model: MODEL, prompt: promptOf(35), max_tokens: 10 },
        { id: 'ctx-up-late' },
      );
      expect(expectContextLengthExceeded(reply, 'ctx-up-late', 'prompt')).toContain(
        "This model's maximum context length is 40 tokens.",
      );
    } finally {
      await pipeline.close();
      await upstream.close();
    }
  });

  it('an upstream whose /v1/models never answers keeps no request waiting: THREADLINE_MAX_MODEL_LEN holds', async () => {
    const answer = scriptedStream({ chat: [{ delta: { content: ' Hi' } }], finishReason: 'stop' });
    const upstream = await startFakeUpstream((req, res, body) => {
      // Never answered: the request hangs until the engine gives up or the connection closes.
      if (req.url !== '/v1/models') answer(req, res, body);
    });
    const pipeline = await startPipeline({ THREADLINE_ENGINE: 'openai', UPSTREAM_URL: upstream.url });
    try {
      const started = Date.now();
      const reply = await send(pipeline.url, CHAT, { model: MODEL, messages: [{ role: 'user', content: 'Hello' }] });
      expect(reply.status, reply.text).toBe(200);
      expect(Date.now() - started).toBeLessThan(2_000);
    } finally {
      await pipeline.close();
      await upstream.close();
    }
  }, 20_000);

  it('uses THREADLINE_MAX_MODEL_LEN when the upstream reports none', async () => {
    const upstream = await upstreamReporting(null);
    const pipeline = await startPipeline({
      THREADLINE_ENGINE: 'openai',
      UPSTREAM_URL: upstream.url,
      THREADLINE_MAX_MODEL_LEN: '40',
    });
    try {
      const reply = await send(
        pipeline.url,
        COMPLETIONS,
        { model: MODEL, prompt: promptOf(35), max_tokens: 10 },
        { id: 'ctx-up-3' },
      );
      expect(expectContextLengthExceeded(reply, 'ctx-up-3', 'prompt')).toContain('maximum context length is 40 tokens');
      expect(upstream.generations()).toEqual([]);
    } finally {
      await pipeline.close();
      await upstream.close();
    }
  });
});

describe('a bad THREADLINE_MAX_MODEL_LEN', () => {
  it('stops start-up with a message naming it', async () => {
    await expect(startFromSource({ THREADLINE_MAX_MODEL_LEN: 'lots' })).rejects.toThrow(
      'Invalid configuration: THREADLINE_MAX_MODEL_LEN must be a whole number from 1 to 100000000, got "lots"',
    );
  });
});
