import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPipeline } from '../../support/pipeline-app.js';
import type { PipelineApp } from '../../support/pipeline-app.js';
import { MODEL, send } from '../../support/requests.js';

/**
 * GET /v1/models: the model the service serves.
 */

let pipeline: PipelineApp;

beforeAll(async () => {
  pipeline = await startPipeline();
});
afterAll(() => pipeline.close());

describe('generation behaviour', () => {
  it('GET /v1/models: the served model', async () => {
    const res = await send(pipeline.url, '/v1/models', undefined, { id: 'models-1', method: 'GET' });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.text)).toEqual({
      object: 'list',
      data: [{ id: MODEL, object: 'model', created: 0, owned_by: 'threadline' }],
    });
  });
});
