import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPipeline } from '../../support/pipeline-app.js';
import type { PipelineApp } from '../../support/pipeline-app.js';
import { MODEL } from '../../support/requests.js';

/**
 * Headers set for the reply before a stream starts (by a Fastify hook, say) reach the streamed response.
 */

describe('headers set for the reply before a stream starts', () => {
  let hooked: PipelineApp;
  beforeAll(async () => {
    hooked = await startPipeline({}, (app) =>
      app
        .getHttpAdapter()
        .getInstance()
        .addHook('onRequest', (_request, reply, done) => {
          reply.header('access-control-allow-origin', '*');
          done();
        }),
    );
  });
  afterAll(() => hooked.close());

  it('a header from a Fastify hook (CORS, say) reaches the streamed response, beside the id written once', async () => {
    const res = await fetch(`${hooked.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'hooked-stream-1' },
      body: JSON.stringify({ model: MODEL, prompt: 'Hello', max_tokens: 3, stream: true }),
    });
    const text = await res.text();
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('x-request-id')).toBe('hooked-stream-1');
    expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(text.endsWith('data: [DONE]\n\n')).toBe(true);
  });
});
