import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LogLine } from '../support/log-capture.js';
import { startPipeline } from '../support/pipeline-app.js';
import { chatBody } from '../support/requests.js';
import { waitFor } from '../support/wait-for.js';
import type { PipelineApp } from '../support/pipeline-app.js';

const COMPONENTS = ['frontend', 'processor', 'router', 'worker'];

/** A short chat request, as JSON. */
function shortChat(content: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify(chatBody(content, { max_tokens: 8, ...extra }));
}

async function post(url: string, id: string, body: string): Promise<Response> {
  return fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-request-id': id },
    body,
  });
}

/** The components that wrote at least one line for the request. */
function componentsOf(lines: LogLine[]): string[] {
  return [...new Set(lines.map((line) => line.component).filter((c): c is string => typeof c === 'string'))].sort();
}

describe('one request id on every component log line (LOG_LEVEL=debug, in one process)', () => {
  let pipeline: PipelineApp;
  beforeAll(async () => {
    pipeline = await startPipeline({ LOG_LEVEL: 'debug' });
  });
  afterAll(() => pipeline.close());

  it('a non-streamed request: every component logs it, with the id and its own name', async () => {
    const res = await post(pipeline.url, 'logs-unary-1', shortChat('hello'));
    expect(res.status).toBe(200);
    expect(((await res.json()) as { id: string }).id).toBe('chatcmpl-logs-unary-1');
    const lines = pipeline.logs.forRequest('logs-unary-1');
    expect(componentsOf(lines)).toEqual([...COMPONENTS].sort());
    for (const component of ['processor', 'router', 'worker']) {
      expect(
        lines.filter((line) => line.msg === `handling ${component}.${component === 'router' ? 'route' : 'generate'}`),
      ).toHaveLength(1);
    }
    expect(lines.some((line) => line.component === 'frontend' && line.msg === 'serving chat/completions')).toBe(true);
  });

  it('a streamed request: the same, and the stream lines too', async () => {
    const res = await post(pipeline.url, 'logs-stream-1', shortChat('hello', { stream: true }));
    const text = await res.text();
    expect(text.trim().endsWith('data: [DONE]')).toBe(true);
    const lines = pipeline.logs.forRequest('logs-stream-1');
    expect(componentsOf(lines)).toEqual([...COMPONENTS].sort());
    expect(
      lines.some((line) => line.component === 'worker' && String(line.msg).startsWith('generation finished')),
    ).toBe(true);
  });

  it('200 concurrent streamed requests: zero cross-talk', async () => {
    const ids = Array.from({ length: 200 }, (_, i) => `xtalk-${i}`);
    const bodies = await Promise.all(
      ids.map(async (id, i) => {
        const res = await post(pipeline.url, id, shortChat(`prompt number ${i}`, { stream: true, max_tokens: 6 }));
        return { id, header: res.headers.get('x-request-id'), text: await res.text() };
      }),
    );
    for (const { id, header, text } of bodies) {
      expect(header).toBe(id);
      const chunkIds = [...text.matchAll(/"id":"(chatcmpl-[^"]+)"/g)].map((m) => m[1]);
      expect(chunkIds.length).toBeGreaterThan(0);
      expect(new Set(chunkIds)).toEqual(new Set([`chatcmpl-${id}`]));
    }
    // Each call id belongs to one request: a line about a call never carries another request's id.
    const requestByCall = new Map<string, string>();
    for (const line of pipeline.logs.lines) {
      if (typeof line.callId !== 'string' || !String(line.requestId).startsWith('xtalk-')) continue;
      const known = requestByCall.get(line.callId);
      if (known === undefined) requestByCall.set(line.callId, line.requestId!);
      else expect(line.requestId).toBe(known);
    }
    for (const id of ids) {
      const lines = pipeline.logs.forRequest(id);
      expect(componentsOf(lines)).toEqual([...COMPONENTS].sort());
      expect(lines.filter((line) => line.msg === 'handling worker.generate')).toHaveLength(1);
      expect(lines.filter((line) => line.msg === 'incoming request')).toHaveLength(1);
    }
    expect(requestByCall.size).toBe(200 * 3);
  });
});

describe('a client that disconnects mid-stream', () => {
  let pipeline: PipelineApp;
  beforeAll(async () => {
    pipeline = await startPipeline({ LOG_LEVEL: 'debug', MOCKER_DECODE_MS_PER_TOKEN: '5' });
  });
  afterAll(() => pipeline.close());

  it('stops the worker generating, and the worker logs the stop with the id', async () => {
    const abort = new AbortController();
    const res = await fetch(`${pipeline.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'gone-1' },
      body: JSON.stringify({
        model: 'threadline-mocker',
        prompt: 'a long story',
        max_tokens: 4000,
        stream: true,
        seed: 1,
      }),
      signal: abort.signal,
    });
    const reader = res.body!.getReader();
    let received = '';
    while ((received.match(/data: /g) ?? []).length < 5)
      received += new TextDecoder().decode((await reader.read()).value);
    abort.abort();
    const stopLine = await waitFor(() =>
      pipeline.logs
        .forRequest('gone-1')
        .find((line) => line.component === 'worker' && String(line.msg).startsWith('generation stopped')),
    );
    expect(stopLine).toMatchObject({ requestId: 'gone-1', component: 'worker', context: 'MockerEngine' });
    const produced = stopLine.produced as number;
    expect(produced).toBeGreaterThanOrEqual(5);
    expect(produced).toBeLessThan(150);
    expect(pipeline.logs.forRequest('gone-1').some((line) => String(line.msg).startsWith('generation finished'))).toBe(
      false,
    );
  });
});
