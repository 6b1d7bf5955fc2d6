import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postJson, postStream } from '../../support/openai-api.js';
import type { ChatChunk, ChatCompletion, TextChunk, TextCompletion } from '../../support/openai-api.js';
import { startPipeline } from '../../support/pipeline-app.js';
import type { PipelineApp } from '../../support/pipeline-app.js';
import { UUID_V4 } from '../../support/raw-http.js';
import { CHAT, COMPLETIONS, MODEL, chatBody, completionBody, send } from '../../support/requests.js';

/**
 * The OpenAI-compatible API (docs/pipeline.md) over real sockets: the request id on every response, in
 * the `x-request-id` header, the body `id` and every stream chunk's `id`.
 */

let pipeline: PipelineApp;

beforeAll(async () => {
  pipeline = await startPipeline();
});
afterAll(() => pipeline.close());

describe('the request id on every response (the seed test)', () => {
  const ID = 'test-universal-123';

  it('POST /v1/chat/completions echoes X-Request-Id, and the body id is chatcmpl-<id>', async () => {
    const { res, json } = await postJson<ChatCompletion>(pipeline.url, CHAT, chatBody('hi', { max_tokens: 4 }), ID);
    expect(res.requestId).toBe(ID);
    expect(json.id).toBe(`chatcmpl-${ID}`);
    expect(json.object).toBe('chat.completion');
    expect(json.model).toBe(MODEL);
  });

  it('POST /v1/completions echoes X-Request-Id, and the body id is cmpl-<id>', async () => {
    const { res, json } = await postJson<TextCompletion>(
      pipeline.url,
      COMPLETIONS,
      completionBody('hi', { max_tokens: 4 }),
      ID,
    );
    expect(res.requestId).toBe(ID);
    expect(json.id).toBe(`cmpl-${ID}`);
    expect(json.object).toBe('text_completion');
    expect(json.model).toBe(MODEL);
  });

  it('without X-Request-Id: a generated UUIDv4, and the body id carries that same id', async () => {
    const chat = await postJson<ChatCompletion>(pipeline.url, CHAT, chatBody('hi', { max_tokens: 4 }));
    expect(chat.res.requestId).toMatch(UUID_V4);
    expect(chat.json.id).toBe(`chatcmpl-${chat.res.requestId}`);
    const completion = await postJson<TextCompletion>(
      pipeline.url,
      COMPLETIONS,
      completionBody('hi', { max_tokens: 4 }),
    );
    expect(completion.res.requestId).toMatch(UUID_V4);
    expect(completion.json.id).toBe(`cmpl-${completion.res.requestId}`);
    expect(completion.res.requestId).not.toBe(chat.res.requestId);
  });

  it('streamed: the header, and every chunk id is chatcmpl-<id> / cmpl-<id>', async () => {
    const chat = await postStream<ChatChunk>(
      pipeline.url,
      CHAT,
      chatBody('hi', { max_tokens: 6, stream_options: { include_usage: true } }),
      ID,
    );
    expect(chat.res.requestId).toBe(ID);
    expect(chat.chunks.length).toBeGreaterThan(6);
    for (const chunk of chat.chunks)
      expect(chunk).toMatchObject({ id: `chatcmpl-${ID}`, object: 'chat.completion.chunk', model: MODEL });

    const completion = await postStream<TextChunk>(
      pipeline.url,
      COMPLETIONS,
      completionBody('hi', { max_tokens: 6 }),
      ID,
    );
    expect(completion.res.requestId).toBe(ID);
    expect(completion.chunks.length).toBeGreaterThan(6);
    for (const chunk of completion.chunks)
      expect(chunk).toMatchObject({ id: `cmpl-${ID}`, object: 'text_completion', model: MODEL });

    const generated = await postStream<ChatChunk>(pipeline.url, CHAT, chatBody('hi', { max_tokens: 3 }));
    expect(generated.res.requestId).toMatch(UUID_V4);
    for (const chunk of generated.chunks) expect(chunk.id).toBe(`chatcmpl-${generated.res.requestId}`);
  });

  it('GET /health: echoed when sent, a UUIDv4 when not', async () => {
    const echoed = await send(pipeline.url, '/health', undefined, { id: ID, method: 'GET' });
    expect(echoed.status).toBe(200);
    expect(echoed.requestId).toBe(ID);
    expect(JSON.parse(echoed.text)).toEqual({ status: 'ok' });
    const generated = await send(pipeline.url, '/health', undefined, { id: undefined, method: 'GET' });
    expect(generated.status).toBe(200);
    expect(generated.requestId).toMatch(UUID_V4);
  });

  it('GET /v1/models: echoed when sent, a UUIDv4 when not', async () => {
    expect((await send(pipeline.url, '/v1/models', undefined, { id: ID, method: 'GET' })).requestId).toBe(ID);
    expect((await send(pipeline.url, '/v1/models', undefined, { id: undefined, method: 'GET' })).requestId).toMatch(
      UUID_V4,
    );
  });
});
