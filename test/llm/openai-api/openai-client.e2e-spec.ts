import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSdkCompletions } from '../../support/openai-api.js';
import { startPipelineWithClient } from '../../support/openai-clients.js';
import type { PipelineApp } from '../../support/pipeline-app.js';
import { UUID_V4 } from '../../support/raw-http.js';
import { MODEL } from '../../support/requests.js';

/**
 * The official `openai` client against the service: the request id it reports, streamed and not, and
 * the errors it raises.
 */

let pipeline: PipelineApp;
let client: OpenAI;

beforeAll(async () => {
  ({ pipeline, client } = await startPipelineWithClient());
});
afterAll(() => pipeline.close());

describe('the official openai client', () => {
  it('chat, non-streamed: result._request_id is the id sent; the body id carries it', async () => {
    const result = await client.chat.completions.create(
      { model: MODEL, messages: [{ role: 'user', content: 'hello there' }], max_tokens: 5, seed: 7 },
      { headers: { 'X-Request-Id': 'sdk-chat-1' } },
    );
    expect(result._request_id).toBe('sdk-chat-1');
    expect(result.id).toBe('chatcmpl-sdk-chat-1');
    expect(result.object).toBe('chat.completion');
    expect(result.choices).toHaveLength(1);
    expect(result.choices[0]!.message.role).toBe('assistant');
    expect(result.choices[0]!.message.content!.length).toBeGreaterThan(0);
    expect(result.choices[0]!.finish_reason).toBe('length');
    expect(result.usage!.completion_tokens).toBe(5);
  });

  it('completions, non-streamed: result._request_id is the id sent', async () => {
    const result = await client.completions.create(
      { model: MODEL, prompt: 'Once upon a time', max_tokens: 5, seed: 7 },
      { headers: { 'X-Request-Id': 'sdk-cmpl-1' } },
    );
    expect(result._request_id).toBe('sdk-cmpl-1');
    expect(result.id).toBe('cmpl-sdk-cmpl-1');
    expect(result.choices[0]!.text.length).toBeGreaterThan(0);
    expect(result.choices[0]!.finish_reason).toBe('length');
  });

  it('without a header the client sees the generated UUIDv4', async () => {
    const result = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: 2,
    });
    expect(result._request_id).toMatch(UUID_V4);
    expect(result.id).toBe(`chatcmpl-${result._request_id}`);
  });

  it('chat, streamed: withResponse().request_id is the id; chunks join into the text; a final finish_reason', async () => {
    const body = { model: MODEL, messages: [{ role: 'user' as const, content: 'tell me a story' }], seed: 11 };
    const reference = await client.chat.completions.create(body);
    const {
      data: stream,
      request_id,
      response,
    } = await client.chat.completions
      .create({ ...body, stream: true }, { headers: { 'X-Request-Id': 'sdk-stream-1' } })
      .withResponse();
    expect(request_id).toBe('sdk-stream-1');
    expect(response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    let text = '';
    let contentChunks = 0;
    const reasons: Array<string | null> = [];
    for await (const chunk of stream) {
      expect(chunk.id).toBe('chatcmpl-sdk-stream-1');
      for (const choice of chunk.choices) {
        expect(choice.index).toBe(0);
        if (choice.delta.content) {
          text += choice.delta.content;
          contentChunks++;
        }
        reasons.push(choice.finish_reason);
      }
    }
    expect(text).toBe(reference.choices[0]!.message.content);
    expect(text.endsWith('.')).toBe(true);
    expect(contentChunks).toBe(reference.usage!.completion_tokens);
    // Only the last choice chunk finishes.
    expect(reasons.at(-1)).toBe('stop');
    expect(reasons.slice(0, -1).every((reason) => reason === null)).toBe(true);
  });

  it('completions, streamed: request_id, the joined text, the final finish_reason', async () => {
    const body = { model: MODEL, prompt: 'Once upon a time', seed: 3, max_tokens: 9 };
    const reference = await client.completions.create(body);
    const { data: stream, request_id } = await client.completions
      .create({ ...body, stream: true }, { headers: { 'X-Request-Id': 'sdk-stream-2' } })
      .withResponse();
    expect(request_id).toBe('sdk-stream-2');
    const { text, finishReason } = await readSdkCompletions(stream, 'sdk-stream-2');
    expect(text).toBe(reference.choices[0]!.text);
    expect(finishReason).toBe('length');
  });

  it('an unknown model: NotFoundError with requestID, and the OpenAI error body', async () => {
    const error = await client.chat.completions
      .create(
        { model: 'gpt-nope', messages: [{ role: 'user', content: 'hi' }] },
        { headers: { 'X-Request-Id': 'sdk-404-1' } },
      )
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(OpenAI.NotFoundError);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    const err = error as InstanceType<typeof OpenAI.NotFoundError>;
    expect(err.status).toBe(404);
    expect(err.requestID).toBe('sdk-404-1');
    expect(err.headers.get('x-request-id')).toBe('sdk-404-1');
    const message = 'The model `gpt-nope` does not exist. This server serves `threadline-mocker`.';
    expect(err.error).toEqual({ message, type: 'invalid_request_error', param: 'model', code: 'model_not_found' });
    expect(err.message).toBe(`404 ${message}`);
    expect(err.code).toBe('model_not_found');
    expect(err.param).toBe('model');
    expect(err.type).toBe('invalid_request_error');
  });

  it('an unknown model on a stream request: the error is thrown by create(), before any chunk', async () => {
    const error = await client.completions
      .create({ model: 'gpt-nope', prompt: 'hi', stream: true }, { headers: { 'X-Request-Id': 'sdk-404-2' } })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(OpenAI.NotFoundError);
    expect((error as InstanceType<typeof OpenAI.NotFoundError>).requestID).toBe('sdk-404-2');
  });

  it('a bad parameter: BadRequestError with requestID, param and message', async () => {
    const error = await client.chat.completions
      .create(
        { model: MODEL, messages: [{ role: 'user', content: 'hi' }], temperature: 5 },
        { headers: { 'X-Request-Id': 'sdk-400-1' } },
      )
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    const err = error as InstanceType<typeof OpenAI.BadRequestError>;
    expect(err.status).toBe(400);
    expect(err.requestID).toBe('sdk-400-1');
    expect(err.param).toBe('temperature');
    expect(err.type).toBe('invalid_request_error');
    expect(err.message).toBe('400 temperature must be a number from 0 to 2.');
  });

  it('models.list() lists threadline-mocker', async () => {
    const ids: string[] = [];
    for await (const model of client.models.list()) ids.push(model.id);
    expect(ids).toEqual([MODEL]);
  });
});
