import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeUpstream } from '../../support/fake-upstream.js';
import type { FakeUpstream } from '../../support/fake-upstream.js';
import type { PipelineApp } from '../../support/pipeline-app.js';
import { startPipeline } from '../../support/pipeline-app.js';
import { CHAT, COMPLETIONS, MODEL, chatBody, pathOf, send } from '../../support/requests.js';
import type { Api, ErrorBody } from '../../support/requests.js';
import { serviceEvents } from '../../support/sse.js';
import { waitUntil } from '../../support/wait-for.js';

/**
 * What an upstream does wrong, or sends beyond text, between its response head and its end, and what
 * the `openai` engine makes of it: a stream cut off without its finish reason, a silence in the middle,
 * a connection broken or a line that is not JSON, a refusal that repeats this service's key or comes
 * as an HTML page, a content filter's finish, logprobs on a chunk without text; and the sampling fields
 * it is sent. One stand-in upstream, told what to do by `MODE:<name>` in the prompt.
 */

const API_KEY = 'sk-upstream-secret-4242';
const SILENCE_MS = 800;

/** Requests whose connection the stand-in saw close, by mode. */
const closed = new Set<string>();

function chunkOf(chat: boolean, text: string, finish: string | null, logprobs: unknown = null): string {
  const choice = chat
    ? { index: 0, delta: { content: text }, logprobs, finish_reason: finish }
    : { index: 0, text, logprobs, finish_reason: finish };
  const object = chat ? 'chat.completion.chunk' : 'text_completion';
  return `data: ${JSON.stringify({ id: 'up', object, created: 0, model: MODEL, choices: [choice] })}\n\n`;
}

/** One token's chat logprobs entry, its bytes as given. */
function entry(token: string, bytes: number[]) {
  return { token, bytes, logprob: -0.5, top_logprobs: [] };
}

function faulty(req: IncomingMessage, res: ServerResponse, body: unknown): void {
  const mode = /MODE:(\w+)/.exec(JSON.stringify(body))?.[1] ?? 'plain';
  const chat = req.url === CHAT;
  res.on('close', () => closed.add(mode));
  if (mode === 'key401') {
    res.writeHead(401, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({ error: { message: `Incorrect API key provided: ${API_KEY}.`, type: 'invalid_request_error' } }),
    );
    return;
  }
  if (mode === 'html500') {
    res.writeHead(500, { 'content-type': 'text/html' });
    res.end('<html><body><p>Traceback at /srv/internal/app.py line 3</p></body></html>');
    return;
  }
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  res.write(chunkOf(chat, ' one', null));
  switch (mode) {
    case 'cutoff':
      res.end(chunkOf(chat, ' two', null));
      return;
    case 'stall':
      // Nothing more, until the engine gives up and closes the connection.
      return;
    case 'destroy':
      setTimeout(() => res.socket?.destroy(), 20);
      return;
    case 'malformed':
      res.end('data: {not json\n\n');
      return;
    case 'toperror':
      // Older vLLM writes a failure mid-stream as an error object at the top level.
      res.end(
        `data: ${JSON.stringify({ object: 'error', message: 'CUDA out of memory', type: 'InternalServerError', param: null, code: 500 })}\n\n`,
      );
      return;
    case 'nochoices':
      res.end(`data: ${JSON.stringify({ id: 'up', object: 'chat.completion.chunk', created: 0, model: MODEL })}\n\n`);
      return;
    case 'abort':
    case 'error':
    case 'eos_token':
    case 'max_tokens':
      // vLLM ends a generation it aborted with `abort`, some servers say `error`; TGI names a normal end
      // `eos_token`, others `max_tokens` for one cut at its length.
      res.end(`${chunkOf(chat, ' two', mode)}data: [DONE]\n\n`);
      return;
    case 'filter':
      res.end(`${chunkOf(chat, '', 'content_filter')}data: [DONE]\n\n`);
      return;
    case 'usage': {
      // Counted by the upstream's own tokenizer, which is not the pipeline's: its usage is the answer's.
      const usage = {
        prompt_tokens: 30,
        completion_tokens: 10,
        total_tokens: 40,
        prompt_tokens_details: { cached_tokens: 16 },
      };
      const object = chat ? 'chat.completion.chunk' : 'text_completion';
      res.write(chunkOf(chat, '', 'length'));
      res.end(
        `data: ${JSON.stringify({ id: 'up', object, created: 0, model: MODEL, choices: [], usage })}\n\ndata: [DONE]\n\n`,
      );
      return;
    }
    case 'lpempty':
      // A character of several tokens: the chunk of its first token has no text, but has its logprobs.
      res.write(chunkOf(chat, ' a', null, { content: [entry(' a', [32, 97])] }));
      res.write(chunkOf(chat, '', null, { content: [entry('\\xe6', [230])] }));
      res.write(chunkOf(chat, '日', null, { content: [entry('\\x97\\xa5', [151, 165])] }));
      res.end(`${chunkOf(chat, '', 'stop')}data: [DONE]\n\n`);
      return;
    default:
      res.end(`${chunkOf(chat, '', 'stop')}data: [DONE]\n\n`);
  }
}

function body(api: Api, mode: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return api === 'chat'
    ? chatBody(`say it MODE:${mode}`, extra)
    : { model: MODEL, prompt: `say it MODE:${mode}`, ...extra };
}

describe('the openai engine, an upstream misbehaving in the middle of its stream', () => {
  let fake: FakeUpstream;
  let b: PipelineApp;
  beforeAll(async () => {
    fake = await startFakeUpstream(faulty, { maxModelLen: null });
    b = await startPipeline({
      THREADLINE_ENGINE: 'openai',
      UPSTREAM_URL: fake.url,
      UPSTREAM_API_KEY: API_KEY,
      UPSTREAM_TIMEOUT_MS: String(SILENCE_MS),
    });
  });
  afterAll(async () => {
    await b?.close();
    await fake?.close();
  });

  /** The error a request ended with: its body's, or its stream's last event's. */
  async function failureOf(api: Api, mode: string, stream: boolean, id: string): Promise<ErrorBody['error']> {
    const reply = await send(b.url, pathOf(api), body(api, mode, { stream }), { id });
    expect(reply.requestId).toBe(id);
    if (!stream) {
      expect(reply.status, reply.text).toBeGreaterThanOrEqual(500);
      return (JSON.parse(reply.text) as ErrorBody).error;
    }
    expect(reply.status).toBe(200);
    const last = serviceEvents(reply.text).at(-1)!;
    expect(last, reply.text).not.toBe('[DONE]');
    return (JSON.parse(last) as ErrorBody).error;
  }

  it.each([
    { api: 'chat' as const, stream: false },
    { api: 'chat' as const, stream: true },
    { api: 'completion' as const, stream: false },
    { api: 'completion' as const, stream: true },
  ])(
    'a stream that ends without its finish reason is cut off, not complete ($api, stream $stream): upstream_error',
    async ({ api, stream }) => {
      const id = `cutoff-${api}-${stream}`;
      const error = await failureOf(api, 'cutoff', stream, id);
      expect(error).toMatchObject({ type: 'server_error', code: 'upstream_error' });
      expect(error.message).toBe(
        `The upstream model server ended its stream before its answer was complete. (request id ${id})`,
      );
    },
  );

  it.each([
    { api: 'chat' as const, stream: false, mode: 'toperror' },
    { api: 'completion' as const, stream: true, mode: 'toperror' },
    { api: 'chat' as const, stream: true, mode: 'nochoices' },
    { api: 'completion' as const, stream: false, mode: 'nochoices' },
  ])(
    'a chunk without choices ($mode, $api, stream $stream): upstream_error saying what the upstream said, or that its chunk had none',
    async ({ api, stream, mode }) => {
      const id = `${mode}-${api}-${stream}`;
      const error = await failureOf(api, mode, stream, id);
      expect(error).toMatchObject({ type: 'server_error', code: 'upstream_error' });
      expect(error.message).toBe(
        mode === 'toperror'
          ? `The upstream model server failed (mid-stream): CUDA out of memory (request id ${id})`
          : `The upstream model server sent a chunk of its stream without choices. (request id ${id})`,
      );
    },
  );

  it.each([
    { api: 'chat' as const, stream: false, reason: 'abort' },
    { api: 'chat' as const, stream: true, reason: 'abort' },
    { api: 'completion' as const, stream: false, reason: 'error' },
    { api: 'completion' as const, stream: true, reason: 'abort' },
  ])(
    'a stream that ends with a finish reason saying it failed ($reason) failed, not complete ($api, stream $stream): upstream_error',
    async ({ api, stream, reason }) => {
      const id = `finish-${reason}-${api}-${stream}`;
      const error = await failureOf(api, reason, stream, id);
      expect(error).toMatchObject({ type: 'server_error', code: 'upstream_error' });
      expect(error.message).toBe(
        `The upstream model server ended its answer with finish reason "${reason}": it did not complete it. (request id ${id})`,
      );
    },
  );

  it.each([
    { reason: 'eos_token', as: 'stop' },
    { reason: 'max_tokens', as: 'length' },
  ])('another server’s name for a normal end ($reason) is OpenAI’s $as, a complete answer', async ({ reason, as }) => {
    const chat = await send(b.url, CHAT, body('chat', reason), { id: `finish-${reason}` });
    expect(chat.status, chat.text).toBe(200);
    expect(JSON.parse(chat.text)).toMatchObject({ choices: [{ finish_reason: as }] });
    const completion = await send(b.url, pathOf('completion'), body('completion', reason, { stream: true }));
    const chunks = serviceEvents(completion.text);
    expect(chunks.at(-1)).toBe('[DONE]');
    expect(JSON.parse(chunks.at(-2)!)).toMatchObject({ choices: [{ finish_reason: as }] });
  });

  it.each([false, true])(
    'an upstream silent for UPSTREAM_TIMEOUT_MS in the middle of its stream (stream %s): upstream_timeout, its connection closed',
    async (stream) => {
      closed.delete('stall');
      const id = `stall-${stream}`;
      const error = await failureOf('chat', 'stall', stream, id);
      expect(error).toMatchObject({ type: 'server_error', code: 'upstream_timeout' });
      expect(error.message).toContain(`sent nothing for ${SILENCE_MS} ms in the middle of its stream`);
      await waitUntil(() => closed.has('stall'), 5000);
    },
  );

  it.each(['destroy', 'malformed'])(
    'a stream broken off (%s): 502 upstream_error naming the upstream, not an internal error',
    async (mode) => {
      const error = await failureOf('chat', mode, false, `broken-${mode}`);
      expect(error).toMatchObject({ type: 'server_error', code: 'upstream_error' });
      expect(error.message).toContain(`The upstream model server broke off its stream: `);
    },
  );

  it("an upstream's 401 refuses this service's key, not the client's: 502, and the key it repeated is not passed on", async () => {
    const reply = await send(b.url, CHAT, body('chat', 'key401'), { id: 'key401' });
    expect(reply.status).toBe(502);
    expect(reply.text).not.toContain(API_KEY);
    expect((JSON.parse(reply.text) as ErrorBody).error).toMatchObject({
      code: 'upstream_error',
      message: `The upstream model server refused this service's credentials (401): check UPSTREAM_API_KEY. (request id key401)`,
    });
    for (const line of b.logs.raw) expect(line).not.toContain(API_KEY);
  });

  it("an upstream's error page is not passed on: only what an OpenAI error body says would be", async () => {
    const reply = await send(b.url, CHAT, body('chat', 'html500'), { id: 'html500' });
    expect(reply.status).toBe(502);
    expect((JSON.parse(reply.text) as ErrorBody).error.message).toBe(
      `The upstream model server failed (500) (request id html500)`,
    );
  });

  it('a content filter that ends the answer is reported as such, in chat, completions and the Responses API', async () => {
    const chat = await send(b.url, CHAT, body('chat', 'filter'), { id: 'filter-chat' });
    expect(JSON.parse(chat.text)).toMatchObject({ choices: [{ finish_reason: 'content_filter' }] });
    const completion = await send(b.url, pathOf('completion'), body('completion', 'filter', { stream: true }));
    const chunks = serviceEvents(completion.text);
    expect(chunks.at(-1)).toBe('[DONE]');
    expect(JSON.parse(chunks.at(-2)!)).toMatchObject({ choices: [{ finish_reason: 'content_filter' }] });
    const response = await send(b.url, '/v1/responses', { model: MODEL, input: 'say it MODE:filter' });
    expect(JSON.parse(response.text)).toMatchObject({
      status: 'incomplete',
      incomplete_details: { reason: 'content_filter' },
    });
  });

  it.each([
    { api: 'chat' as const, stream: false, n: 1 },
    { api: 'completion' as const, stream: true, n: 2 },
  ])(
    "the usage is the upstream's own count, asked for with each request ($api, stream $stream, n $n)",
    async ({ api, stream, n }) => {
      const before = fake.received.length;
      const extra = { n, max_tokens: 10, ...(stream && { stream, stream_options: { include_usage: true } }) };
      const reply = await send(b.url, pathOf(api), body(api, 'usage', extra), { id: `usage-${api}` });
      const usage = stream
        ? (JSON.parse(serviceEvents(reply.text).at(-2)!) as { usage: unknown }).usage
        : (JSON.parse(reply.text) as { usage: unknown }).usage;
      expect(usage).toEqual({
        prompt_tokens: 30,
        completion_tokens: 10 * n,
        total_tokens: 30 + 10 * n,
        prompt_tokens_details: { cached_tokens: 16 },
      });
      for (const sent of fake.received.slice(before))
        expect(sent.body).toMatchObject({ stream: true, stream_options: { include_usage: true } });
    },
  );

  it('logprobs sent on a chunk without text are kept: their bytes make the text', async () => {
    const reply = await send(b.url, CHAT, body('chat', 'lpempty', { logprobs: true }), { id: 'lpempty' });
    const choice = (
      JSON.parse(reply.text) as {
        choices: Array<{ message: { content: string }; logprobs: { content: Array<{ bytes: number[] }> } }>;
      }
    ).choices[0]!;
    expect(choice.message.content).toBe(' one a日');
    const bytes = choice.logprobs.content.flatMap((one) => one.bytes);
    expect(Buffer.from(bytes).toString('utf8')).toBe(' a日');
  });

  it("passes a message's name on (a tool message has none to pass)", async () => {
    const before = fake.received.length;
    const messages = [
      { role: 'system', content: 'You answer.', name: 'rules' },
      { role: 'user', content: 'say it MODE:plain', name: 'alice' },
    ];
    const reply = await send(b.url, CHAT, { model: MODEL, messages }, { id: 'named' });
    expect(reply.status, reply.text).toBe(200);
    expect((fake.received[before]!.body as { messages: unknown }).messages).toEqual(messages);
  });

  it("sends no max_tokens for a chat answer the client set no limit on (the upstream counts what is left), the client's when it set one", async () => {
    const before = fake.received.length;
    for (const [id, extra] of [
      ['limit-none', {}],
      ['limit-none-stream', { stream: true }],
      ['limit-max-tokens', { max_tokens: 7 }],
      ['limit-max-completion-tokens', { max_completion_tokens: 9 }],
    ] as const) {
      const reply = await send(b.url, CHAT, body('chat', 'plain', extra), { id });
      expect(reply.status, reply.text).toBe(200);
    }
    await send(b.url, COMPLETIONS, body('completion', 'plain'), { id: 'limit-completion' });
    const sent = fake.received.slice(before).map((one) => one.body as Record<string, unknown>);
    for (const one of sent.slice(0, 2)) {
      expect(one).not.toHaveProperty('max_tokens');
      expect(one).not.toHaveProperty('max_completion_tokens');
    }
    expect(sent.slice(2, 4).map((one) => one.max_tokens)).toEqual([7, 9]);
    // A text completion's default is the API's 16, which not every server shares: it is sent.
    expect(sent[4]!.max_tokens).toBe(16);
  });

  it('sends the sampling fields the client set (a reasoning effort too), and only those: no seed or temperature of its own', async () => {
    const before = fake.received.length;
    await send(b.url, CHAT, body('chat', 'plain'), { id: 'sampling-none' });
    const sampled = {
      temperature: 0.3,
      top_p: 0.5,
      presence_penalty: 0.1,
      frequency_penalty: -0.2,
      seed: 5,
      reasoning_effort: 'low',
      n: 2,
    };
    await send(b.url, CHAT, body('chat', 'plain', sampled), { id: 'sampling-all' });
    const sent = fake.received.slice(before).map((one) => one.body as Record<string, unknown>);
    expect(sent).toHaveLength(3);
    for (const field of ['temperature', 'top_p', 'presence_penalty', 'frequency_penalty', 'seed', 'reasoning_effort'])
      expect(sent[0]).not.toHaveProperty(field);
    const { n: _n, ...perChoice } = sampled;
    expect(
      sent
        .slice(1)
        .map((one) => one.seed)
        .sort(),
    ).toEqual([5, 6]);
    for (const one of sent.slice(1)) expect(one).toMatchObject({ ...perChoice, seed: one.seed });
  });
});
