import { Agent, request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { within } from '../support/cluster.js';
import { waitForLines } from '../support/log-capture.js';
import { startPipeline } from '../support/pipeline-app.js';
import type { PipelineApp } from '../support/pipeline-app.js';
import { openRawRequest, rawRequest, requestHead, UUID_V4 } from '../support/raw-http.js';
import type { OpenRawRequest, RawResponse } from '../support/raw-http.js';
import { CHAT, chatBody, send } from '../support/requests.js';
import type { ErrorBody } from '../support/requests.js';
import { waitUntil } from '../support/wait-for.js';

/**
 * The limits at the service's door, over real sockets, scaled down from the attacks they stop:
 * requests that arrive too slowly are cut with a 408, connections beyond the cap are closed as they
 * arrive, and request bodies beyond the buffered-bytes cap are refused at once with a 503 and
 * `Retry-After`, while everyone else is served.
 */

/** A chat request body of exactly `bytes` bytes. */
function chatBodyOf(bytes: number): string {
  const empty = JSON.stringify(chatBody('', { max_tokens: 2 }));
  const words = 'the quick brown fox jumps over the lazy dog '.repeat(Math.ceil(bytes / 44));
  return empty.replace('"content":""', `"content":"${words.slice(0, bytes - empty.length)}"`);
}

function chatHead(id: string, contentLength: number): string {
  return (
    requestHead('POST', CHAT, [
      `X-Request-Id: ${id}`,
      'Content-Type: application/json',
      `Content-Length: ${contentLength}`,
    ]).toString('latin1') + '\r\n'
  );
}

function portOf(pipeline: PipelineApp): number {
  return Number(new URL(pipeline.url).port);
}

async function health(pipeline: PipelineApp): Promise<number> {
  return (await fetch(`${pipeline.url}/health`)).status;
}

/**
 * A pipeline whose body budget is `budget` bytes (and its largest body too), with `heldBytes` of it
 * held by a body announced and not sent, request id `heldId`; `env` adds to its settings.
 */
async function pipelineWithBodyHeld(
  budget: number,
  heldId: string,
  heldBytes: number,
  env: Record<string, string> = {},
): Promise<{ pipeline: PipelineApp; held: OpenRawRequest }> {
  const pipeline = await startPipeline({
    MAX_BODY_BYTES: String(budget),
    MAX_BUFFERED_BODY_BYTES: String(budget),
    REQUEST_BODY_TIMEOUT_MS: '20000',
    ...env,
  });
  const held = await openRawRequest(portOf(pipeline), chatHead(heldId, heldBytes));
  await waitForLines(pipeline.logs, (l) => l.msg === 'incoming request' && l.requestId === heldId);
  return { pipeline, held };
}

describe('slow requests are cut with a 408 while new clients are served', () => {
  const SLOW = 50;
  let pipeline: PipelineApp;
  beforeAll(async () => {
    pipeline = await startPipeline({ REQUEST_BODY_TIMEOUT_MS: '500' });
  });
  afterAll(() => pipeline.close());

  it(`${SLOW} connections sending their bodies too slowly each get a 408 with their id and an OpenAI body, and are closed`, async () => {
    const slow = await Promise.all(
      Array.from({ length: SLOW }, (_, i) =>
        openRawRequest(portOf(pipeline), `${chatHead(`slow-body-${i}`, 1000)}{"model":`),
      ),
    );
    // Meanwhile a new client is served, a health check and a completion.
    expect(await health(pipeline)).toBe(200);
    const served = await send(pipeline.url, CHAT, chatBodyOf(200));
    expect(served.status).toBe(200);

    const answers = await Promise.all(slow.map((request) => request.response));
    answers.forEach((res, i) => {
      expect(res.status).toBe(408);
      expect(res.headers['x-request-id']).toBe(`slow-body-${i}`);
      expect(res.headers.connection).toBe('close');
      expect(JSON.parse(res.body)).toMatchObject({ error: { type: 'invalid_request_error', code: 'request_timeout' } });
    });
    expect(
      pipeline.logs.lines.filter((l) => l.msg === 'request refused by the HTTP server' && l.status === 408),
    ).toHaveLength(SLOW);
  });

  it('a connection that sends nothing is cut too', async () => {
    const silent = await openRawRequest(portOf(pipeline), '');
    const res = await silent.response;
    expect(res.status).toBe(408);
    expect(res.headers['x-request-id']).toMatch(UUID_V4);
  });
});

describe('connections beyond MAX_CONNECTIONS are closed as they arrive', () => {
  const CAP = 8;
  let pipeline: PipelineApp;
  beforeAll(async () => {
    pipeline = await startPipeline({ MAX_CONNECTIONS: String(CAP), REQUEST_BODY_TIMEOUT_MS: '20000' });
  });
  afterAll(() => pipeline.close());

  function openConnections(): Promise<number> {
    return new Promise((resolve, reject) =>
      pipeline.app.getHttpServer().getConnections((error, count) => (error ? reject(error) : resolve(count))),
    );
  }

  it('with the cap held by slow clients a new connection is refused at once, and is served again once they go', async () => {
    const held: OpenRawRequest[] = [];
    for (let i = 0; i < CAP; i++) held.push(await openRawRequest(portOf(pipeline), 'GET /health HTTP/1.1\r\n'));
    await waitUntil(async () => (await openConnections()) === CAP);

    const outcome = await openRawRequest(
      portOf(pipeline),
      requestHead('GET', '/health', []).toString('latin1') + '\r\n',
    )
      .then((refused) => refused.response)
      .then(
        (res: RawResponse) => res.status,
        () => 0,
      );
    expect(outcome, 'no HTTP answer: the connection was closed').toBe(0);

    for (const request of held) request.destroy();
    await waitUntil(
      async () =>
        (await rawRequest(portOf(pipeline), requestHead('GET', '/health', [])).catch(() => undefined))?.status === 200,
    );
  });
});

describe('request bodies beyond MAX_BUFFERED_BODY_BYTES are refused at once', () => {
  const CAP = 65_536;
  const BODY = 30_000;
  let pipeline: PipelineApp;
  let held: OpenRawRequest[];
  beforeAll(async () => {
    pipeline = await startPipeline({ MAX_BODY_BYTES: String(CAP), MAX_BUFFERED_BODY_BYTES: String(CAP) });
    // Two bodies announced and not yet sent hold 60,000 of the 65,536 bytes.
    held = await Promise.all(['held-1', 'held-2'].map((id) => openRawRequest(portOf(pipeline), chatHead(id, BODY))));
    for (const id of ['held-1', 'held-2'])
      await waitForLines(pipeline.logs, (l) => l.msg === 'incoming request' && l.requestId === id);
  });
  afterAll(async () => {
    for (const request of held) request.destroy();
    await pipeline.close();
  });

  it('concurrent bodies that do not fit each get a 503 with Retry-After, their id and an OpenAI body, while /health answers', async () => {
    const ids = Array.from({ length: 6 }, (_, i) => `over-cap-${i}`);
    const [refusals, healthStatus] = await Promise.all([
      Promise.all(ids.map((id) => send(pipeline.url, CHAT, chatBodyOf(BODY), { id }))),
      health(pipeline),
    ]);
    expect(healthStatus).toBe(200);
    for (const [i, res] of refusals.entries()) {
      expect(res.status).toBe(503);
      expect(res.retryAfter).toBe('1');
      expect(res.requestId).toBe(ids[i]);
      const body = JSON.parse(res.text) as ErrorBody;
      expect(body.error).toMatchObject({ type: 'server_error', code: 'request_bodies_at_capacity' });
      expect(body.error.message).toContain(ids[i]);
    }
    const lines = pipeline.logs.lines.filter((l) => l.msg === 'request refused: request bodies held at their limit');
    expect(lines.map((l) => l.requestId).sort()).toEqual([...ids].sort());
    expect(lines.every((l) => l.level === 40)).toBe(true);
  });

  it('a body over MAX_BODY_BYTES still gets its 413, not a 503 to retry', async () => {
    const res = await send(pipeline.url, CHAT, chatBodyOf(CAP + 1));
    expect(res.status).toBe(413);
  });

  it('a chunked body that outgrows what is left is refused mid-way with a 503, and its connection closed', async () => {
    const chunk = chatBodyOf(10_000);
    const head = requestHead('POST', CHAT, [
      'X-Request-Id: chunked-over-cap',
      'Content-Type: application/json',
      'Transfer-Encoding: chunked',
    ]);
    const request = await openRawRequest(
      portOf(pipeline),
      `${head.toString('latin1')}\r\n${chunk.length.toString(16)}\r\n${chunk}\r\n`,
    );
    const res = await request.response;
    expect(res.status).toBe(503);
    expect(res.headers['x-request-id']).toBe('chunked-over-cap');
    expect(res.headers.connection).toBe('close');
    expect(res.headers['retry-after']).toBe('1');
  });

  it('the held bodies, once sent, are served, and their room is free again afterwards', async () => {
    held.forEach((request) => request.write(chatBodyOf(BODY)));
    const answers = await Promise.all(held.map((request) => request.response));
    expect(answers.map((res) => res.status)).toEqual([200, 200]);
    // Two more at once need both held bodies' room.
    const after = await Promise.all([1, 2].map(() => send(pipeline.url, CHAT, chatBodyOf(BODY))));
    expect(after.map((res) => res.status)).toEqual([200, 200]);
  });
});

describe('a body over 64 KiB refused at capacity is left unread, and its connection closed after the answer', () => {
  const BUDGET = 2 << 20;
  const HELD = 1536 << 10;
  const LARGE = 1 << 20;
  let pipeline: PipelineApp;
  let held: OpenRawRequest | undefined;
  beforeAll(async () => {
    // A body announced and not sent holds three quarters of the budget.
    ({ pipeline, held } = await pipelineWithBodyHeld(BUDGET, 'held-large', HELD));
  });
  afterAll(async () => {
    held?.destroy();
    await pipeline.close();
  });

  it('the client gets its 503 at once with `Connection: close`, and the connection is closed soon after, without a reset', async () => {
    const head = [
      `POST ${CHAT} HTTP/1.1`,
      'Host: localhost',
      'X-Request-Id: large-over-cap',
      'Content-Type: application/json',
      `Content-Length: ${LARGE}`,
      '',
      '',
    ].join('\r\n');
    const socket = connect(portOf(pipeline), '127.0.0.1');
    const received: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    const errors: string[] = [];
    socket.on('error', (error: NodeJS.ErrnoException) => errors.push(error.code ?? error.message));
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    socket.write(Buffer.concat([Buffer.from(head, 'latin1'), Buffer.alloc(LARGE, 'a')]));
    await waitUntil(() => Buffer.concat(received).toString('latin1').includes('\r\n\r\n'), 3000);
    const answer = Buffer.concat(received).toString('latin1');
    expect(answer).toMatch(/^HTTP\/1\.1 503 /);
    expect(answer).toMatch(/x-request-id: large-over-cap/i);
    expect(answer).toMatch(/retry-after: 1/i);
    expect(answer).toMatch(/connection: close/i);
    expect(await health(pipeline)).toBe(200);
    // Well before the 20 s request timeout: the unread body does not keep the connection.
    await within(closed, 5000, 'the connection of the refused body to close');
    // And closed without a reset: closed at once with the body unread, the kernel resets the connection,
    // which can reach a client before it has read its answer.
    expect(errors).toEqual([]);
  });

  /** One request through `agent`: its status, or the code of the error it failed with. */
  const exchange = (agent: Agent, method: string, path: string, body?: Buffer) =>
    new Promise<number | string>((resolve) => {
      const req = httpRequest(
        {
          agent,
          host: '127.0.0.1',
          port: portOf(pipeline),
          method,
          path,
          headers: body === undefined ? {} : { 'content-type': 'application/json', 'content-length': body.length },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
      req.end(body);
    });

  it("a keep-alive client's next request after the 503 is answered at once, not stuck behind the unread body", async () => {
    // Node's own client (and so every library on it) reuses a connection its answer said to keep.
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      expect(await exchange(agent, 'POST', CHAT, Buffer.from(chatBodyOf(LARGE)))).toBe(503);
      expect(await within(exchange(agent, 'GET', '/health'), 5000, 'the next request on the same agent')).toBe(200);
    } finally {
      agent.destroy();
    }
  });
});

describe('connections refused with their body unread never take the slots that other clients need', () => {
  const BUDGET = 2 << 20;
  const MAX_CONNECTIONS = 40;
  // More refusals, one after another, than the cap: each connection is kept a while after its answer.
  const REFUSED = 3 * MAX_CONNECTIONS;
  let pipeline: PipelineApp;
  let held: OpenRawRequest | undefined;
  beforeAll(async () => {
    ({ pipeline, held } = await pipelineWithBodyHeld(BUDGET, 'held-whole-budget', BUDGET, {
      MAX_CONNECTIONS: String(MAX_CONNECTIONS),
    }));
  });
  afterAll(async () => {
    held?.destroy();
    await pipeline.close();
  });

  /** One large body refused at capacity: the status of its answer, or what its connection failed with. */
  const refusedBody = (id: string) =>
    new Promise<string>((resolve) => {
      const socket = connect(portOf(pipeline), '127.0.0.1');
      let answer = '';
      const done = (outcome: string) => {
        socket.destroy();
        resolve(outcome);
      };
      socket.on('data', (chunk: Buffer) => {
        answer += chunk.toString('latin1');
        if (answer.includes('\r\n\r\n')) done(answer.split(' ')[1]!);
      });
      socket.on('error', (error: NodeJS.ErrnoException) => done(error.code ?? error.message));
      socket.on('close', () => done(answer === '' ? 'closed unanswered' : answer.split(' ')[1]!));
      socket.write(Buffer.concat([Buffer.from(chatHead(id, 1 << 20), 'latin1'), Buffer.alloc(64 << 10, 'a')]));
    });

  it(`${REFUSED} refusals in a row, more than MAX_CONNECTIONS, each get their 503, and a new client is served`, async () => {
    const outcomes: string[] = [];
    for (let i = 0; i < REFUSED; i++) outcomes.push(await refusedBody(`refused-${i}`));
    expect(outcomes.filter((outcome) => outcome !== '503')).toEqual([]);
    expect(await health(pipeline)).toBe(200);
  });
});
