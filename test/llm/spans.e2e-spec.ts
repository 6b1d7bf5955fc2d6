import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { addSpanRecorder } from '@threadline/tracing';
import type { FinishedSpan } from '@threadline/tracing';
import { describeWithNats, startNatsServer } from '../support/nats-server.js';
import type { NatsServer } from '../support/nats-server.js';
import { longSeed } from '../support/mocker-text.js';
import { startPipeline } from '../support/pipeline-app.js';
import type { PipelineApp } from '../support/pipeline-app.js';
import { chatBody, completionBody } from '../support/requests.js';
import { waitUntil } from '../support/wait-for.js';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const CALLER_SPAN = '00f067aa0ba902b7';
const TRACEPARENT = `00-${TRACE_ID}-${CALLER_SPAN}-01`;

async function post(url: string, path: string, id: string, body: unknown): Promise<Response> {
  return fetch(`${url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-request-id': id, traceparent: TRACEPARENT },
    body: JSON.stringify(body),
  });
}

function only(spans: FinishedSpan[], name: string, kind: FinishedSpan['kind']): FinishedSpan {
  const found = spans.filter((span) => span.name === name && span.kind === kind);
  expect(found, `${kind} ${name}`).toHaveLength(1);
  return found[0]!;
}

/**
 * A request's spans form one tree in the caller's trace: the HTTP span under the caller's span, every
 * other span under one of the request's, each depends() hop a client span with its server span under
 * it, and the worker's generation under the worker's server span.
 */
function expectPipelineTree(spans: FinishedSpan[], requestId: string): FinishedSpan {
  const ids = new Map(spans.map((span) => [span.spanId, span]));
  expect(ids.size).toBe(spans.length);
  const http = only(spans, 'POST /v1/chat/completions', 'server');
  expect(http.parentSpanId).toBe(CALLER_SPAN);
  expect(http.attributes).toMatchObject({ 'http.response.status_code': 200, 'url.path': '/v1/chat/completions' });
  for (const span of spans) {
    expect(span.traceId).toBe(TRACE_ID);
    expect(span.requestId).toBe(requestId);
    expect(span.attributes.x_request_id).toBe(requestId);
    if (span !== http) expect(ids.has(span.parentSpanId!), `${span.name}'s parent`).toBe(true);
  }
  for (const hop of ['processor.generate', 'router.route', 'worker.generate']) {
    const client = only(spans, hop, 'client');
    expect(only(spans, hop, 'server').parentSpanId).toBe(client.spanId);
  }
  expect(only(spans, 'processor.generate', 'client').parentSpanId).toBe(http.spanId);
  const router = only(spans, 'router.route', 'server');
  const worker = only(spans, 'worker.generate', 'server');
  expect(router.attributes).toMatchObject({
    'threadline.router.worker_id': worker.attributes['threadline.instance_id'],
    'threadline.router.prefix_hit_rate': expect.any(Number) as number,
    'threadline.router.policy': 'kv',
  });
  const generation = only(spans, 'gen_ai.generate', 'internal');
  expect(generation.parentSpanId).toBe(worker.spanId);
  return generation;
}

function describeSpans(name: string, start: () => Promise<{ pipeline: PipelineApp; stop: () => Promise<void> }>) {
  describe(name, () => {
    let pipeline: PipelineApp;
    let stop: () => Promise<void> = async () => undefined;
    let spans: FinishedSpan[] = [];
    let remove: () => void = () => undefined;

    beforeAll(async () => {
      ({ pipeline, stop } = await start());
    }, 30_000);
    afterAll(() => stop());
    beforeEach(() => {
      spans = [];
      remove = addSpanRecorder({ onEnd: (span) => spans.push(span) });
    });
    afterEach(() => remove());

    it('a chat request: one tree from the HTTP span down to the generation, which counts its tokens', async () => {
      const response = await post(pipeline.url, '/v1/chat/completions', 'llm-spans-1', {
        ...chatBody('hello there'),
        max_tokens: 5,
        stream: true,
      });
      expect(response.status).toBe(200);
      await response.text();
      await waitUntil(() => spans.some((span) => span.kind === 'server' && span.name.startsWith('POST ')));
      const generation = expectPipelineTree(spans, 'llm-spans-1');
      expect(generation.attributes).toMatchObject({
        'gen_ai.operation.name': 'chat',
        'gen_ai.request.model': expect.any(String) as string,
        'gen_ai.usage.input_tokens': expect.any(Number) as number,
        'gen_ai.usage.output_tokens': 5,
        'gen_ai.usage.cache_read_input_tokens': expect.any(Number) as number,
        'threadline.worker_id': expect.stringMatching(/^worker-/) as string,
      });
      expect(generation.events.map((event) => event.name)).toEqual(['gen_ai.first_token']);
      const firstToken = generation.events[0]!.time;
      expect(firstToken).toBeGreaterThanOrEqual(generation.startTime);
      expect(firstToken).toBeLessThanOrEqual(generation.endTime);
      // Counts only: the prompt's words appear in no span.
      expect(JSON.stringify(spans)).not.toContain('hello there');
    });

    it('a completions request is a text_completion', async () => {
      const response = await post(
        pipeline.url,
        '/v1/completions',
        'llm-spans-2',
        completionBody('once', { max_tokens: 2 }),
      );
      expect(response.status).toBe(200);
      await waitUntil(() => spans.some((span) => span.name === 'POST /v1/completions'));
      const generation = spans.find((span) => span.name === 'gen_ai.generate')!;
      expect(generation.attributes).toMatchObject({ 'gen_ai.operation.name': 'text_completion' });
    });
  });
}

describeSpans('spans of the pipeline, in one process', async () => {
  const pipeline = await startPipeline();
  return { pipeline, stop: () => pipeline.close() };
});

describeWithNats('spans of the pipeline, its calls over NATS', () => {
  let nats: NatsServer | undefined;
  describeSpans('in one process', async () => {
    nats = await startNatsServer();
    const pipeline = await startPipeline({ THREADLINE_TRANSPORT: 'nats', NATS_URL: nats.url });
    return {
      pipeline,
      stop: async () => {
        await pipeline.close();
        await nats?.stop();
      },
    };
  });
});

describe('spans of a stream its client leaves, in one process', () => {
  let pipeline: PipelineApp;
  const spans: FinishedSpan[] = [];
  let remove: () => void = () => undefined;
  beforeAll(async () => {
    // A few ms a token: a long stream lasts long enough for its client to leave in the middle.
    pipeline = await startPipeline({ MOCKER_DECODE_MS_PER_TOKEN: '5' });
    remove = addSpanRecorder({ onEnd: (span) => spans.push(span) });
  }, 30_000);
  afterAll(async () => {
    remove();
    await pipeline.close();
  });

  it('a stream its client leaves: the generation span ends, counting the tokens made before it stopped', async () => {
    const prompt = 'a story long enough to leave in the middle of';
    const { seed, length } = longSeed(prompt, 100);
    const client = new AbortController();
    const response = await fetch(`${pipeline.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'llm-spans-left' },
      body: JSON.stringify(completionBody(prompt, { max_tokens: 150, stream: true, seed })),
      signal: client.signal,
    });
    const reader = response.body!.getReader();
    for (let chunk = 0; chunk < 3; chunk++) await reader.read();
    client.abort();
    await waitUntil(() => spans.some((span) => span.name === 'gen_ai.generate'));
    const generation = only(spans, 'gen_ai.generate', 'internal');
    expect(generation.attributes['gen_ai.usage.output_tokens']).toBeGreaterThan(0);
    expect(generation.attributes['gen_ai.usage.output_tokens']).toBeLessThan(Math.min(length, 150));
    await waitUntil(() => spans.some((span) => span.kind === 'server' && span.name === 'POST /v1/completions'));
    expect(only(spans, 'POST /v1/completions', 'server').attributes['threadline.cancelled']).toBe(true);
  });
});
