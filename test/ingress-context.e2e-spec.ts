import { Controller, Get, Req } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { connect } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientDisconnectedError, getCurrentRequestId, getRequestSignal, isRequestCancelled } from '@threadline/tracing';
import { CALLBACK_SCOPED_ENTRY } from '@threadline/tracing/internal';
import { rawRequest, requestHead } from './support/raw-http.js';
import { startTestApp } from './support/test-app.js';
import type { TestApp } from './support/test-app.js';

setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

/** Ids of the requests whose Fastify request object has been garbage-collected. */
const collected = new Set<string>();
const onCollected = new FinalizationRegistry<string>((id) => collected.add(id));
/** Ids of the requests whose `poll-cancelled` handler has started. */
const pollStarted = new Set<string>();
/** What the code of a request whose client went away saw, by id, without ever taking the signal first. */
const seenAfterDisconnect = new Map<string, { cancelled: boolean; signalAborted: boolean | undefined }>();

/**
 * Where a request's context begins and ends at HTTP ingress: it is entered when Fastify asks for the
 * request's id, before any hook, and it ends with the socket callback the request arrived in. Nothing
 * that runs for the connection around a request, or for the next request on it, sees its id.
 */

@Controller()
class ContextController {
  @Get('id')
  id() {
    return { id: getCurrentRequestId() };
  }

  /** Answers only when the request is cancelled: its client went away. */
  @Get('until-cancelled')
  untilCancelled() {
    const signal = getRequestSignal()!;
    return new Promise((resolve) => signal.addEventListener('abort', () => resolve({ cancelled: true }), { once: true }));
  }

  @Get('remembered')
  remembered(@Req() request: FastifyRequest) {
    onCollected.register(request, request.id);
    return { ok: true };
  }

  /** Polls `isRequestCancelled()` for up to 2 s, never taking the signal before it is cancelled. */
  @Get('poll-cancelled')
  async pollCancelled() {
    const id = getCurrentRequestId()!;
    pollStarted.add(id);
    const deadline = Date.now() + 2_000;
    while (!isRequestCancelled() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    seenAfterDisconnect.set(id, { cancelled: isRequestCancelled(), signalAborted: getRequestSignal()?.aborted });
    return {};
  }
}

/** Writes `bytes` on one connection and returns everything the server sends until it closes. */
function exchange(port: number, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    socket.write(bytes);
  });
}

const get = (path: string, id: string, connection: 'keep-alive' | 'close') =>
  `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: ${connection}\r\nX-Request-Id: ${id}\r\n\r\n`;

describe('HTTP ingress: the extent of a request\'s context', () => {
  let t: TestApp;
  const seenByEarlierHook: Array<string | undefined> = [];
  const signalsTakenEarly = new Map<string, AbortSignal | undefined>();
  beforeAll(async () => {
    t = await startTestApp({
      controllers: [ContextController],
      beforeInit: (fastify) => {
        fastify.addHook('onRequest', (request, _reply, done) => {
          seenByEarlierHook.push(getCurrentRequestId());
          if (request.url === '/until-cancelled') signalsTakenEarly.set(request.id, getRequestSignal());
          done();
        });
      },
    });
  });
  afterAll(() => t.close());

  it.runIf(CALLBACK_SCOPED_ENTRY)('an onRequest hook added before the module already runs in the request\'s context', async () => {
    seenByEarlierHook.length = 0;
    const res = await rawRequest(t.port, requestHead('GET', '/id', ['X-Request-Id: earlier-hook-1']));
    expect(JSON.parse(res.body)).toEqual({ id: 'earlier-hook-1' });
    expect(seenByEarlierHook).toEqual(['earlier-hook-1']);
  });

  it.runIf(CALLBACK_SCOPED_ENTRY)('a signal taken before the module\'s hook still aborts when the client goes away', async () => {
    const socket = connect(t.port, '127.0.0.1');
    socket.on('error', () => {});
    socket.write(get('/until-cancelled', 'early-signal-1', 'keep-alive'));
    const deadline = Date.now() + 2_000;
    while (!signalsTakenEarly.has('early-signal-1') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    const signal = signalsTakenEarly.get('early-signal-1');
    expect(signal?.aborted).toBe(false);
    socket.destroy();
    while (!signal!.aborted && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(signal!.aborted).toBe(true);
    expect(signal!.reason).toBeInstanceOf(ClientDisconnectedError);
  });

  it('a client that goes away cancels its request even when its code had not taken the signal yet', async () => {
    const socket = connect(t.port, '127.0.0.1');
    socket.on('error', () => {});
    socket.write(get('/poll-cancelled', 'poll-cancelled-1', 'keep-alive'));
    const deadline = Date.now() + 3_000;
    while (!pollStarted.has('poll-cancelled-1') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    socket.destroy();
    while (!seenAfterDisconnect.has('poll-cancelled-1') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(seenAfterDisconnect.get('poll-cancelled-1')).toEqual({ cancelled: true, signalAborted: true });
  });

  it('a finished request leaves nothing of itself to its open connection', async () => {
    // Node makes the connection's keep-alive timer inside the request's context, and the timer holds
    // that context until the connection's next request: the context must not hold the request.
    const socket = connect(t.port, '127.0.0.1');
    socket.on('error', () => {});
    const answered = new Promise<void>((resolve) => socket.once('data', () => resolve()));
    socket.write(get('/remembered', 'collectable-1', 'keep-alive'));
    await answered;
    try {
      const deadline = Date.now() + 3_000;
      while (!collected.has('collectable-1') && Date.now() < deadline) {
        collectGarbage();
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(collected.has('collectable-1')).toBe(true);
    } finally {
      socket.destroy();
    }
  });

  it('pipelined requests on one connection each run in their own context', async () => {
    const text = await exchange(t.port, get('/id', 'piped-a', 'keep-alive') + get('/id', 'piped-b', 'keep-alive') + get('/id', 'piped-c', 'close'));
    expect([...text.matchAll(/x-request-id: (\S+)/g)].map((m) => m[1])).toEqual(['piped-a', 'piped-b', 'piped-c']);
    expect([...text.matchAll(/\{"id":"([^"]+)"\}/g)].map((m) => m[1])).toEqual(['piped-a', 'piped-b', 'piped-c']);
  });

  it('a connection\'s next request reaches the server\'s own listeners with no id, not the previous request\'s', async () => {
    const { seen, text } = await idsSeenOnServer('request', get('/id', 'first-on-socket', 'keep-alive') + get('/id', 'second-on-socket', 'close'));
    expect([...text.matchAll(/x-request-id: (\S+)/g)].map((m) => m[1])).toEqual(['first-on-socket', 'second-on-socket']);
    expect(seen).toEqual([undefined, undefined]);
  });

  it('bytes that are not HTTP after a request are a client error handled outside that request\'s context', async () => {
    const { seen, text } = await idsSeenOnServer('clientError', get('/id', 'before-garbage', 'keep-alive') + 'NOT HTTP AT ALL\r\n\r\n');
    // Fastify answers the error and closes the connection before the first request's handler is done.
    expect(text).toContain('HTTP/1.1 400');
    expect(seen).toEqual([undefined]);
  });

  /** Sends `bytes` on one connection; `seen` has the id current in each call of a first listener for the server's `event`. */
  async function idsSeenOnServer(event: 'request' | 'clientError', bytes: string): Promise<{ seen: Array<string | undefined>; text: string }> {
    const server = t.app.getHttpServer();
    const seen: Array<string | undefined> = [];
    const listener = () => seen.push(getCurrentRequestId());
    server.prependListener(event, listener);
    try {
      return { seen, text: await exchange(t.port, bytes) };
    } finally {
      server.removeListener(event, listener);
    }
  }

  it('after a response, the caller\'s own code sees no id (app.inject and a real socket)', async () => {
    await t.fastify().inject({ method: 'GET', url: '/id', headers: { 'x-request-id': 'inject-leak-check' } });
    expect(getCurrentRequestId()).toBeUndefined();
    await fetch(`${t.url}/id`, { headers: { 'x-request-id': 'fetch-leak-check' } }).then((r) => r.text());
    expect(getCurrentRequestId()).toBeUndefined();
  });
});
