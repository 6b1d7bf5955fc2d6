import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LogLine } from '../../support/log-capture.js';
import { readSdkCompletions } from '../../support/openai-api.js';
import { startPipeline } from '../../support/pipeline-app.js';
import type { PipelineApp } from '../../support/pipeline-app.js';
import { UUID_V4 } from '../../support/raw-http.js';
import { CHAT, COMPLETIONS, MODEL, pathOf, send } from '../../support/requests.js';
import { startFromSource } from '../../support/service-process.js';
import type { ServiceProcess } from '../../support/service-process.js';
import {
  PIPELINE,
  answer,
  componentsOf,
  errorOf,
  messages,
  storyBody,
  streamed,
  withEngine,
} from '../../support/upstream-engine.js';
import { waitFor } from '../../support/wait-for.js';

/**
 * The `openai` engine over real sockets, Threadline (B, in this process) in front of Threadline (A, as its
 * own process: src/main.ts, the entry `npm start` runs). Two apps in one process share the process-wide
 * loggers (Nest's `Logger` override installed by `app.useLogger`, and `tracingGlobals.logger` set by each
 * RequestTracingModule), so the component lines of both would land in whichever app started last; in
 * two processes, A's stdout is A's log.
 */

/** B's answer when A does not serve the model B asks for (UPSTREAM_MODEL=nope), streamed or not. */
const NOPE_REFUSED = {
  error: {
    message:
      'The upstream model server refused the request (404): The model `nope` does not exist. This server serves `threadline-mocker`.',
    type: 'invalid_request_error',
    param: null,
    code: 'upstream_rejected',
  },
};

describe('Threadline (openai engine) in front of Threadline (mocker)', () => {
  let a: ServiceProcess;
  let b: PipelineApp;
  beforeAll(async () => {
    a = await startFromSource({ LOG_LEVEL: 'debug' });
    b = await startPipeline({ LOG_LEVEL: 'debug', THREADLINE_ENGINE: 'openai', UPSTREAM_URL: `${a.url}/v1` });
  }, 90_000);
  afterAll(async () => {
    await b?.close();
    await a?.stop();
  });

  /** Waits until A has logged the whole request (its stdout arrives a little after B answers). */
  function upstreamLines(id: string): Promise<LogLine[]> {
    return waitFor(() => {
      const lines = a.logs.forRequest(id);
      return lines.some((line) => line.msg === 'request completed') &&
        lines.some((line) => line.msg === 'processor.generate ended')
        ? lines
        : undefined;
    }, 10_000);
  }

  /** The id on both instances' log lines: B's pipeline ran the openai engine, A's ran the mocker. */
  async function expectLoggedOnBoth(id: string): Promise<LogLine[]> {
    const own = b.logs.forRequest(id);
    expect(componentsOf(own)).toEqual(PIPELINE);
    expect(messages(own).filter((msg) => msg === 'incoming request')).toHaveLength(1);
    expect(messages(own, 'worker').filter((msg) => msg === 'handling worker.generate')).toHaveLength(1);
    expect(messages(own, 'worker')).toContain('OpenAIUpstreamEngine.generate started');
    expect(messages(own, 'worker')).toContain('OpenAIUpstreamEngine.generate ended');
    expect(messages(own).some((msg) => msg.startsWith('MockerEngine'))).toBe(false);

    const upstream = await upstreamLines(id);
    expect(componentsOf(upstream)).toEqual(PIPELINE);
    expect(messages(upstream).filter((msg) => msg === 'incoming request')).toHaveLength(1);
    expect(messages(upstream, 'frontend').filter((msg) => msg.startsWith('serving '))).toHaveLength(1);
    expect(messages(upstream, 'processor').filter((msg) => msg === 'handling processor.generate')).toHaveLength(1);
    expect(messages(upstream, 'worker').filter((msg) => msg === 'handling worker.generate')).toHaveLength(1);
    expect(messages(upstream, 'worker')).toContain('MockerEngine.generate started');
    expect(messages(upstream).some((msg) => msg.startsWith('OpenAIUpstreamEngine'))).toBe(false);
    return upstream;
  }

  const CASES = [
    { n: 1, api: 'chat' as const, stream: false },
    { n: 2, api: 'chat' as const, stream: true },
    { n: 3, api: 'completion' as const, stream: false },
    { n: 4, api: 'completion' as const, stream: true },
  ];

  it.each(CASES)(
    '$api, stream=$stream: the id on the response and on both instances; the text A gives directly; usage',
    async ({ n, api, stream }) => {
      const id = `chain-${n}`;
      const prefix = api === 'chat' ? 'chatcmpl' : 'cmpl';
      const body = storyBody(api, n, streamed(stream));

      const viaB = await send(b.url, pathOf(api), body, { id });
      expect(viaB.requestId).toBe(id);
      const chained = answer(api, stream, viaB);
      expect(new Set(chained.ids)).toEqual(new Set([`${prefix}-${id}`]));

      const direct = answer(api, stream, await send(a.url, pathOf(api), body, { id: `direct-${n}` }));
      expect(new Set(direct.ids)).toEqual(new Set([`${prefix}-direct-${n}`]));

      expect(chained.text.length).toBeGreaterThan(0);
      expect(chained.text).toBe(direct.text);
      // No max_tokens: a chat answer ends by itself; a text completion at 16 tokens, the API's default,
      // unless it ends before them.
      const finish = api === 'chat' || direct.usage!.completion_tokens < 16 ? 'stop' : 'length';
      expect(direct.finishReason).toBe(finish);
      expect(chained.finishReason).toBe(finish);
      // B reports the usage A counted (its cached tokens as A's cache held the prompt for that request).
      const { prompt_tokens, completion_tokens } = direct.usage!;
      expect(chained.usage).toEqual({
        prompt_tokens,
        completion_tokens,
        total_tokens: prompt_tokens + completion_tokens,
        prompt_tokens_details: { cached_tokens: expect.any(Number) as number },
      });

      const upstream = await expectLoggedOnBoth(id);
      expect(messages(upstream, 'worker')).toContain(`generation finished: ${completion_tokens} tokens`);
    },
  );

  it("vLLM's continue_final_message reaches A: the same continued answer and prompt as A gives, streamed or not", async () => {
    const body = {
      model: MODEL,
      messages: [
        { role: 'user', content: 'Tell me a story.' },
        { role: 'assistant', content: 'Once upon a time' },
      ],
      continue_final_message: true,
      add_generation_prompt: false,
      seed: 4,
      max_tokens: 6,
    };
    const direct = answer('chat', false, await send(a.url, CHAT, body, { id: 'direct-continued' }));
    const opened = answer('chat', false, await send(a.url, CHAT, { ...body, continue_final_message: false }));
    expect(direct.usage!.prompt_tokens).toBeLessThan(opened.usage!.prompt_tokens);
    for (const stream of [false, true]) {
      const chained = answer('chat', stream, await send(b.url, CHAT, { ...body, ...streamed(stream) }));
      expect(chained.text).toBe(direct.text);
      expect(chained.usage!.prompt_tokens).toBe(direct.usage!.prompt_tokens);
    }
  });

  it('without an incoming id: B generates one, and A logs that same id', async () => {
    const viaB = await send(b.url, CHAT, storyBody('chat', 5, { max_tokens: 4 }));
    expect(viaB.requestId).toMatch(UUID_V4);
    const id = viaB.requestId!;
    expect(answer('chat', false, viaB).ids).toEqual([`chatcmpl-${id}`]);
    await expectLoggedOnBoth(id);
  });

  it.each([
    { n: 6, api: 'chat' as const, stream: false },
    { n: 7, api: 'completion' as const, stream: true },
  ])(
    'max_tokens reaches A ($api, stream=$stream): finish_reason length, the same text as A gives',
    async ({ n, api, stream }) => {
      const id = `chain-${n}`;
      const body = storyBody(api, n, { max_tokens: 5, ...streamed(stream) });
      const chained = answer(api, stream, await send(b.url, pathOf(api), body, { id }));
      const direct = answer(api, stream, await send(a.url, pathOf(api), body, { id: `direct-${n}` }));
      expect(chained.text).toBe(direct.text);
      expect(chained.finishReason).toBe('length');
      expect(chained.usage!.completion_tokens).toBe(5);
      expect(chained.usage!.prompt_tokens).toBe(direct.usage!.prompt_tokens);
      // A itself stopped at 5: the limit was passed on, not applied by B after the fact.
      const upstream = await expectLoggedOnBoth(id);
      expect(messages(upstream, 'worker')).toContain('generation finished: 5 tokens');
    },
  );

  it.each([
    { n: 8, api: 'chat' as const, stream: false },
    { n: 9, api: 'chat' as const, stream: true },
    { n: 10, api: 'completion' as const, stream: false },
  ])(
    'stop is honoured through B ($api, stream=$stream): the text ends before it, as A would end it',
    async ({ n, api, stream }) => {
      const id = `chain-${n}`;
      const full = answer(api, false, await send(a.url, pathOf(api), storyBody(api, n), { id: `full-${n}` })).text;
      // A word from the middle of A's answer.
      const words = full.split(' ').filter((word) => /^[a-z]+$/.test(word));
      expect(words.length).toBeGreaterThan(4);
      const stop = words[3]!;
      const expected = full.slice(0, full.indexOf(stop));
      const body = storyBody(api, n, { stop: [stop], ...streamed(stream) });

      const chained = answer(api, stream, await send(b.url, pathOf(api), body, { id }));
      expect(chained.text).toBe(expected);
      expect(chained.finishReason).toBe('stop');
      const direct = answer(api, stream, await send(a.url, pathOf(api), body, { id: `direct-${n}` }));
      expect(direct.text).toBe(expected);
      expect(chained.usage).toEqual({ ...direct.usage!, prompt_tokens_details: { cached_tokens: 0 } });
      expect(
        messages(b.logs.forRequest(id), 'worker').filter((msg) => msg === 'handling worker.generate'),
      ).toHaveLength(1);
      expect(
        (await waitFor(() => a.logs.forRequest(id).find((line) => line.msg === 'incoming request'), 10_000)).requestId,
      ).toBe(id);
    },
  );

  describe('the official openai client against B', () => {
    let client: OpenAI;
    beforeAll(() => {
      client = new OpenAI({ baseURL: `${b.url}/v1`, apiKey: 'test', maxRetries: 0 });
    });

    it('chat, non-streamed: _request_id is the id sent, the body id carries it, A logs it', async () => {
      const body = {
        model: MODEL,
        messages: [{ role: 'user' as const, content: 'tell me a story' }],
        seed: 11,
        max_tokens: 12,
      };
      const result = await client.chat.completions.create(body, { headers: { 'X-Request-Id': 'sdk-chain-1' } });
      expect(result._request_id).toBe('sdk-chain-1');
      expect(result.id).toBe('chatcmpl-sdk-chain-1');
      const direct = answer('chat', false, await send(a.url, CHAT, body, { id: 'sdk-direct-1' }));
      expect(result.choices[0]!.message.content).toBe(direct.text);
      expect(result.choices[0]!.finish_reason).toBe('length');
      await expectLoggedOnBoth('sdk-chain-1');
    });

    it('completions, streamed: withResponse().request_id is the id sent, every chunk carries it', async () => {
      const body = { model: MODEL, prompt: 'Once upon a time', seed: 3, max_tokens: 9 };
      const { data: stream, request_id } = await client.completions
        .create({ ...body, stream: true }, { headers: { 'X-Request-Id': 'sdk-chain-2' } })
        .withResponse();
      expect(request_id).toBe('sdk-chain-2');
      const { text, finishReason } = await readSdkCompletions(stream, 'sdk-chain-2');
      const direct = answer('completion', false, await send(a.url, COMPLETIONS, body, { id: 'sdk-direct-2' }));
      expect(text).toBe(direct.text);
      expect(finishReason).toBe('length');
      await expectLoggedOnBoth('sdk-chain-2');
    });
  });

  // -------------------------------------------------------------------------------------------------
  // 3. An upstream 4xx passes through. These start a second app in this process, which takes over
  // the process-wide loggers from `b`: keep them after every test that reads b.logs.
  // -------------------------------------------------------------------------------------------------

  it.each([
    { api: 'chat' as const, id: 'nope-chat-1' },
    { api: 'completion' as const, id: 'nope-cmpl-1' },
  ])(
    'an upstream 4xx (UPSTREAM_MODEL=nope, $api): 404 with the upstream reason; A logged the id',
    async ({ api, id }) => {
      await withEngine({ UPSTREAM_URL: `${a.url}/v1`, UPSTREAM_MODEL: 'nope' }, async (nope) => {
        const reply = await send(nope.url, pathOf(api), storyBody(api, 20), { id });
        expect(reply.status).toBe(404);
        expect(reply.requestId).toBe(id);
        expect(errorOf(reply)).toEqual(NOPE_REFUSED);
      });
      const upstream = await waitFor(() => {
        const lines = a.logs.forRequest(id);
        return lines.some((line) => line.msg === 'request completed') ? lines : undefined;
      }, 10_000);
      expect(upstream.find((line) => line.msg === 'request completed')).toMatchObject({
        requestId: id,
        res: { statusCode: 404 },
      });
    },
  );

  it('an upstream 4xx on a stream: the same 4xx, before any SSE byte (the upstream refused it before its head)', async () => {
    await withEngine({ UPSTREAM_URL: `${a.url}/v1`, UPSTREAM_MODEL: 'nope' }, async (nope) => {
      const reply = await send(nope.url, CHAT, storyBody('chat', 21, { stream: true }), { id: 'nope-stream-1' });
      expect(reply.status).toBe(404);
      expect(reply.requestId).toBe('nope-stream-1');
      expect(reply.retryAfter).toBeNull();
      expect(errorOf(reply)).toEqual(NOPE_REFUSED);
    });
  });
});
