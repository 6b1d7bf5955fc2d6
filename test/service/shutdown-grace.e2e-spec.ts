import { Agent, request as httpRequest } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { spawnTracked, within } from '../support/cluster.js';
import { startPipeline } from '../support/pipeline-app.js';
import type { PipelineApp } from '../support/pipeline-app.js';
import { openRawRequest, requestHead } from '../support/raw-http.js';
import { waitFor } from '../support/wait-for.js';
import { CHAT, COMPLETIONS, chatBody, completionBody, send } from '../support/requests.js';
import { errorEvents, openStream, serviceEvents } from '../support/sse.js';
import type { SseReader } from '../support/sse.js';

/**
 * A stop (SIGTERM runs `app.close()`) in one process, over real sockets: streams in flight get
 * THREADLINE_SHUTDOWN_GRACE_MS to finish, the rest end with an error event, new requests are refused.
 */

const SLOW = { MOCKER_DECODE_MS_PER_TOKEN: '40', LOG_LEVEL: 'debug' };

/** A completion of thousands of tokens: minutes at SLOW's pace. */
function longStream(): Record<string, unknown> {
  return completionBody('a long story', { stream: true, max_tokens: 4000, seed: 1 });
}

/** A service whose stop has begun (a grace of 30 s) with a short stream `id` in flight, read up to its second chunk. */
async function stoppingWithStream(
  id: string,
): Promise<{ pipeline: PipelineApp; stream: SseReader; closed: Promise<void> }> {
  const pipeline = await startPipeline({ ...SLOW, THREADLINE_SHUTDOWN_GRACE_MS: '30000' });
  const body = chatBody('Tell me a short story.', { stream: true, max_tokens: 25 });
  const stream = await openStream(pipeline.url, CHAT, body, id, 60_000);
  await stream.until((s) => s.dataCount >= 2, 10_000, 'two chunks');
  return { pipeline, stream, closed: pipeline.close() };
}

describe('shutting down with requests in flight', () => {
  it('a stream longer than the grace ends with a 503 shutting_down error event, and the close completes', async () => {
    const pipeline = await startPipeline({ ...SLOW, THREADLINE_SHUTDOWN_GRACE_MS: '300' });
    const stream = await openStream(pipeline.url, COMPLETIONS, longStream(), 'grace-cut', 60_000);
    await stream.until((s) => s.dataCount >= 2, 10_000, 'two chunks');
    const closed = pipeline.close();
    const text = await stream.toEnd(20_000);
    await closed;
    const events = serviceEvents(text);
    expect(events.at(-1)).not.toBe('[DONE]');
    expect(errorEvents(text).map((e) => e.error.code)).toEqual(['shutting_down']);
    const lines = pipeline.logs.forRequest('grace-cut');
    // The generation itself was stopped, not only its stream.
    expect(
      lines.some((l) => /^generation stopped after \d+ of \d+ tokens: request cancelled$/.test(String(l.msg))),
    ).toBe(true);
    expect(lines.filter((l) => l.code === 'shutting_down').map((l) => [l.level, l.status])).toEqual([[40, 503]]);
    expect(pipeline.logs.lines.some((l) => String(l.msg).startsWith('stopping 1 request(s) still running'))).toBe(true);
  }, 60_000);

  it('a stream that ends within the grace ends whole, and a request that comes meanwhile gets a 503 shutting_down', async () => {
    const { pipeline, stream, closed } = await stoppingWithStream('grace-whole');
    const late = await send(pipeline.url, CHAT, chatBody('hello'), {
      id: 'grace-late',
      headers: { connection: 'close' },
    });
    expect(late.status).toBe(503);
    expect(late.requestId).toBe('grace-late');
    expect(late.retryAfter).toBe('1');
    expect(JSON.parse(late.text)).toEqual({
      error: {
        message: 'The server is shutting down; retry the request (request id grace-late).',
        type: 'server_error',
        param: null,
        code: 'shutting_down',
      },
    });
    expect(pipeline.logs.forRequest('grace-late').map((l) => [l.level, l.msg, l.code])).toContainEqual([
      40,
      'request refused: the service is shutting down',
      'shutting_down',
    ]);
    // Still alive, and still telling how the stop goes; not ready for new work.
    expect((await fetch(`${pipeline.url}/health`)).status).toBe(200);
    expect((await fetch(`${pipeline.url}/metrics`)).status).toBe(200);
    expect((await fetch(`${pipeline.url}/ready`)).status).toBe(503);
    const events = serviceEvents(await stream.toEnd(20_000));
    await closed;
    expect(events.at(-1)).toBe('[DONE]');
    expect(events.filter((event) => event.startsWith('{"error"'))).toEqual([]);
  }, 60_000);

  it('a response in flight when the stop begins tells its keep-alive client to take a new connection', async () => {
    const pipeline = await startPipeline({ ...SLOW, THREADLINE_SHUTDOWN_GRACE_MS: '30000' });
    const agent = new Agent({ keepAlive: true });
    const answered = new Promise<{ status: number; headers: IncomingHttpHeaders }>((resolve, reject) => {
      const sent = httpRequest(
        `${pipeline.url}${CHAT}`,
        { method: 'POST', agent, headers: { 'content-type': 'application/json', 'x-request-id': 'grace-keep-alive' } },
        (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers }));
        },
      );
      sent.on('error', reject);
      sent.end(JSON.stringify(chatBody('Tell me a short story.', { max_tokens: 25 })));
    });
    await waitFor(() => pipeline.logs.forRequest('grace-keep-alive').find((l) => l.msg === 'prefill done'), 10_000);
    const closed = pipeline.close();
    const { status, headers } = await answered;
    await closed;
    agent.destroy();
    expect(status).toBe(200);
    expect(headers.connection).toBe('close');
  }, 60_000);

  it('a request whose body is still arriving at the end of the grace gets the 503 too, not a closed connection', async () => {
    const pipeline = await startPipeline({ ...SLOW, THREADLINE_SHUTDOWN_GRACE_MS: '200' });
    const port = Number(new URL(pipeline.url).port);
    const head = requestHead('POST', CHAT, [
      'Content-Type: application/json',
      'Content-Length: 100',
      'X-Request-Id: grace-upload',
    ]);
    const upload = await openRawRequest(port, Buffer.concat([head, Buffer.from('\r\n{"model":')]));
    await new Promise((resolve) => setTimeout(resolve, 100));
    await pipeline.close();
    const response = await upload.response;
    expect(response.status).toBe(503);
    expect(response.headers['x-request-id']).toBe('grace-upload');
    expect(JSON.parse(response.body)).toMatchObject({ error: { code: 'shutting_down' } });
    expect(pipeline.logs.forRequest('grace-upload').map((l) => [l.level, l.msg])).toContainEqual([
      40,
      'request stopped: the service shut down',
    ]);
    expect(pipeline.logs.lines.filter((l) => l.level >= 50).map((l) => l.msg)).toEqual([]);
  }, 60_000);

  it("a page's request refused while stopping carries the CORS headers, so the page can read it", async () => {
    const { pipeline, stream, closed } = await stoppingWithStream('grace-cors-stream');
    const origin = 'http://localhost:5173';
    const late = await fetch(`${pipeline.url}${CHAT}`, {
      method: 'POST',
      headers: { origin, 'content-type': 'application/json', 'x-request-id': 'grace-cors' },
      body: JSON.stringify(chatBody('hello')),
    });
    expect(late.status).toBe(503);
    expect(late.headers.get('access-control-allow-origin')).toBe(origin);
    expect(late.headers.get('access-control-expose-headers')).toContain('x-request-id');
    await late.text();
    await stream.toEnd(20_000);
    await closed;
  }, 60_000);
});

describe('a stop asked for while the process is still starting', () => {
  it('SIGTERM while it waits for NATS: it exits 0 at once, not killed by the signal', async () => {
    const unused = createServer();
    await new Promise<void>((resolve) => unused.listen(0, '127.0.0.1', resolve));
    const port = (unused.address() as AddressInfo).port;
    await new Promise((resolve) => unused.close(resolve));
    const service = spawnTracked('stop-while-starting', {
      THREADLINE_TRANSPORT: 'nats',
      NATS_URL: `nats://127.0.0.1:${port}`,
    });
    try {
      await service.waitForLine((line) => String(line.msg).startsWith('cannot reach NATS at'), 30_000);
      service.signal('SIGTERM');
      expect(await within(service.exited, 10_000, 'the process to exit')).toEqual({ code: 0, signal: null });
    } finally {
      await service.stop();
    }
  }, 60_000);
});
