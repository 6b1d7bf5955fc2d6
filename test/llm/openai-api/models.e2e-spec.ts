import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitForLine } from '../../support/log-capture.js';
import { openaiClient, startPipelineWithClient } from '../../support/openai-clients.js';
import { startPipeline } from '../../support/pipeline-app.js';
import type { PipelineApp } from '../../support/pipeline-app.js';
import { MODEL, send } from '../../support/requests.js';
import type { ErrorBody } from '../../support/requests.js';

/**
 * GET /v1/models: the model the service serves; GET /v1/models/{id}: that model, or a 404 for another.
 */

const MODEL_OBJECT = { id: MODEL, object: 'model', created: 0, owned_by: 'threadline' };

let pipeline: PipelineApp;
let client: OpenAI;

beforeAll(async () => {
  ({ pipeline, client } = await startPipelineWithClient());
});
afterAll(() => pipeline.close());

describe('generation behaviour', () => {
  it('GET /v1/models: the served model', async () => {
    const res = await send(pipeline.url, '/v1/models', undefined, { id: 'models-1', method: 'GET' });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.text)).toEqual({ object: 'list', data: [MODEL_OBJECT] });
  });

  it('GET /v1/models/{id}: the served model, the same object the list holds', async () => {
    const res = await send(pipeline.url, `/v1/models/${MODEL}`, undefined, { id: 'model-1', method: 'GET' });
    expect(res.status).toBe(200);
    expect(res.requestId).toBe('model-1');
    expect(JSON.parse(res.text)).toEqual(MODEL_OBJECT);
  });

  it('GET /v1/models/{id} of another model: a 404 model_not_found in OpenAI shape, naming both models', async () => {
    const res = await send(pipeline.url, '/v1/models/gpt-4o', undefined, { id: 'model-2', method: 'GET' });
    expect(res.status).toBe(404);
    expect(res.requestId).toBe('model-2');
    expect(res.contentType).toBe('application/json; charset=utf-8');
    expect(JSON.parse(res.text) as ErrorBody).toEqual({
      error: {
        message: `The model \`gpt-4o\` does not exist. This server serves \`${MODEL}\`.`,
        type: 'invalid_request_error',
        param: 'model',
        code: 'model_not_found',
      },
    });
    // Refusing a model is expected: a warning, not an error with a stack.
    const line = await waitForLine(pipeline.logs, (entry) => entry.requestId === 'model-2' && entry.status === 404);
    expect(line.level).toBe(40);
  });
});

describe('the official openai client', () => {
  it('models.retrieve(): the served model and the request id', async () => {
    const model = await client.models.retrieve(MODEL, { headers: { 'X-Request-Id': 'sdk-model-1' } });
    expect(model).toMatchObject(MODEL_OBJECT);
    expect(model._request_id).toBe('sdk-model-1');
  });

  it('models.retrieve() of another model: NotFoundError with code model_not_found and param model', async () => {
    const error = await client.models.retrieve('gpt-4o').then(
      () => undefined,
      (failure: unknown) => failure,
    );
    expect(error).toBeInstanceOf(OpenAI.NotFoundError);
    const notFound = error as InstanceType<typeof OpenAI.NotFoundError>;
    expect(notFound.status).toBe(404);
    expect(notFound.code).toBe('model_not_found');
    expect(notFound.param).toBe('model');
    expect(notFound.type).toBe('invalid_request_error');
  });

  it('models.list(): the one served model', async () => {
    const page = await client.models.list();
    expect(page.data.map((model) => model.id)).toEqual([MODEL]);
  });
});

describe('a model name with a slash (as Hugging Face names are)', () => {
  let slashed: PipelineApp;
  beforeAll(async () => {
    slashed = await startPipeline({ THREADLINE_MODEL: 'org/model-7b' });
  });
  afterAll(() => slashed.close());

  it('models.retrieve() sends it encoded and gets the model', async () => {
    const slashedClient = openaiClient(slashed.url);
    await expect(slashedClient.models.retrieve('org/model-7b')).resolves.toMatchObject({ id: 'org/model-7b' });
  });
});
