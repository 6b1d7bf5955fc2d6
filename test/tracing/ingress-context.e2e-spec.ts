import {
  Body,
  Controller,
  Get,
  Injectable,
  Logger,
  Module,
  Post,
  Req,
  UseGuards,
  UseInterceptors,
} from '@nestjs/common';
import type {
  CallHandler,
  CanActivate,
  ExecutionContext,
  MiddlewareConsumer,
  NestInterceptor,
  NestModule,
  PipeTransform,
} from '@nestjs/common';
import type { Server } from 'node:http';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { tap } from 'rxjs';
import type { Observable } from 'rxjs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  ClientDisconnectedError,
  getCurrentRequestId,
  getRequestSignal,
  isRequestCancelled,
} from '@threadline/tracing';
import { rawRequest, requestHead, UUID_V4 } from '../support/raw-http.js';
import { PLATFORMS, startTestApp } from '../support/test-app.js';
import type { TestApp } from '../support/test-app.js';
import { waitUntil } from '../support/wait-for.js';

setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

/** Ids of the requests whose request object (Fastify's, or Express's IncomingMessage) has been garbage-collected. */
const collected = new Set<string>();
const onCollected = new FinalizationRegistry<string>((id) => collected.add(id));
/** Requests whose signal aborted after their response (none should: a finished request cannot be cancelled). */
const abortsSeen = new Set<object>();
/** Ids of the requests whose `poll-cancelled` handler has started. */
const pollStarted = new Set<string>();
/** What the code of a request whose client went away saw (`poll-cancelled`, `until-cancelled`), by id. */
const seenAfterDisconnect = new Map<string, { cancelled: boolean; signalAborted: boolean | undefined }>();
/** What `getCurrentRequestId()` said in each `until-cancelled` handler's abort listener, by id. */
const idsInAbortListeners = new Map<string, string | undefined>();
/** The signal each `until-cancelled` handler took, by id. */
const signalsTakenByHandler = new Map<string, AbortSignal>();
/** The id each stage of a `stages` request saw, in the order the stages ran. */
const stagesSeen: Array<[stage: string, id: string | undefined]> = [];
const noteStage = (stage: string) => stagesSeen.push([stage, getCurrentRequestId()]);
/** The stages of a `stages` request, in order. */
const STAGES = [
  'nest middleware',
  'guard',
  'interceptor before',
  'pipe',
  'handler',
  'handler after a timer',
  'interceptor after',
];

/**
 * Where a request's context begins and ends at HTTP ingress, on Fastify and on Express: it is entered
 * before any of the app's code runs (on Fastify when Fastify asks for the request's id, before any hook,
 * or without context frames in the adapter's first `onRequest` hook, before the app's own and Nest
 * middleware; on Express before the app sees the request, so before any `app.use()` middleware), and it
 * ends with the socket callback the request arrived in. Nothing that runs for the connection around a
 * request, or for the next request on it, sees its id.
 */

@Injectable()
class StageGuard implements CanActivate {
  canActivate(): boolean {
    noteStage('guard');
    return true;
  }
}

@Injectable()
class StageInterceptor implements NestInterceptor {
  intercept(_context: ExecutionContext, next: CallHandler): Observable<unknown> {
    noteStage('interceptor before');
    return next.handle().pipe(tap(() => noteStage('interceptor after')));
  }
}

@Injectable()
class StagePipe implements PipeTransform {
  transform(value: unknown): unknown {
    noteStage('pipe');
    return value;
  }
}

@Controller()
class ContextController {
  private readonly logger = new Logger('ContextController');

  @Get('id')
  id() {
    return { id: getCurrentRequestId() };
  }

  /** A request through every stage Nest has, each noting the id it sees. */
  @Post('stages')
  @UseGuards(StageGuard)
  @UseInterceptors(StageInterceptor)
  async stages(@Body(StagePipe) body: { pad: string }) {
    noteStage('handler');
    await new Promise((resolve) => setTimeout(resolve, 2));
    noteStage('handler after a timer');
    this.logger.log(`body of ${body.pad.length}`);
    return { id: getCurrentRequestId() };
  }

  /** Answers only when the request is cancelled: its client went away. */
  @Get('until-cancelled')
  async untilCancelled() {
    const id = getCurrentRequestId()!;
    const signal = getRequestSignal()!;
    signalsTakenByHandler.set(id, signal);
    await new Promise((resolve) =>
      signal.addEventListener(
        'abort',
        () => {
          idsInAbortListeners.set(id, getCurrentRequestId());
          resolve(undefined);
        },
        { once: true },
      ),
    );
    seenAfterDisconnect.set(id, { cancelled: isRequestCancelled(), signalAborted: getRequestSignal()?.aborted });
    return { cancelled: true };
  }

  /** Takes the request's signal, and answers at once. */
  @Get('signal-then-answer')
  signalThenAnswer() {
    signalsTakenByHandler.set(getCurrentRequestId()!, getRequestSignal()!);
    return { ok: true };
  }

  @Get('remembered')
  remembered(@Req() request: object) {
    onCollected.register(request, getCurrentRequestId()!);
    return { ok: true };
  }

  /**
   * Takes the request's signal with a listener that holds the request (as code that stops its work on
   * abort does), and answers at once: the listener must not outlive the request in its context.
   */
  @Get('remembered-with-signal')
  rememberedWithSignal(@Req() request: object) {
    getRequestSignal()!.addEventListener('abort', () => abortsSeen.add(request), { once: true });
    onCollected.register(request, getCurrentRequestId()!);
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

/** A Nest middleware (MiddlewareConsumer), which both platforms run before guards. */
@Module({})
class StageMiddlewareModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer
      .apply((_request: unknown, _response: unknown, next: () => void) => {
        noteStage('nest middleware');
        next();
      })
      .forRoutes('stages');
  }
}

/**
 * A body type read by the app's own parser, which calls back from the request stream's `end` event, in
 * a socket callback outside any request's context (unlike body-parser, whose raw-body carries the
 * caller's context over): the context must be back by the time Nest's code runs.
 */
const MANUAL_TYPE = 'text/x-manual';

function readManually(stream: NodeJS.ReadableStream, done: (text: string) => void): void {
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  stream.on('end', () => done(Buffer.concat(chunks).toString('latin1')));
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

const get = (path: string, id: string | undefined, connection: 'keep-alive' | 'close') =>
  `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: ${connection}\r\n${id === undefined ? '' : `X-Request-Id: ${id}\r\n`}\r\n`;

describe.each(PLATFORMS)("HTTP ingress on %s: the extent of a request's context", (platform) => {
  let t: TestApp;
  const seenBeforeNest: Array<string | undefined> = [];
  const signalsTakenBeforeNest = new Map<string, AbortSignal | undefined>();
  /** What the app's own code that runs once its own parser has read a `MANUAL_TYPE` body saw, before Nest's. */
  const seenAfterManualBody: Array<string | undefined> = [];
  /** What the app's own first hook (Fastify) or middleware (Express), added before Nest's, records. */
  const beforeNest = (url: string | undefined, id: string) => {
    seenBeforeNest.push(getCurrentRequestId());
    if (url === '/until-cancelled') signalsTakenBeforeNest.set(id, getRequestSignal());
  };

  beforeAll(async () => {
    t = await startTestApp({
      platform,
      controllers: [ContextController],
      providers: [StageGuard, StageInterceptor, StagePipe],
      imports: [StageMiddlewareModule],
      beforeInit: (fastify) => {
        fastify.addHook('onRequest', (request, _reply, done) => {
          beforeNest(request.url, request.id);
          done();
        });
        fastify.addContentTypeParser(MANUAL_TYPE, (_request, payload, done) => {
          readManually(payload, (pad) => done(null, { pad }));
        });
        fastify.addHook('preValidation', (request, _reply, done) => {
          if (request.headers['content-type'] === MANUAL_TYPE) seenAfterManualBody.push(getCurrentRequestId());
          done();
        });
      },
      beforeInitExpress: (app) => {
        app.use((request, _response, next) => {
          beforeNest(request.url, (request as { id?: string }).id ?? '');
          next();
        });
        app.use((request, _response, next) => {
          if (request.headers['content-type'] !== MANUAL_TYPE) return next();
          readManually(request, (pad) => {
            request.body = { pad };
            next();
          });
        });
        app.use((request, _response, next) => {
          if (request.headers['content-type'] === MANUAL_TYPE) seenAfterManualBody.push(getCurrentRequestId());
          next();
        });
      },
    });
  });
  afterAll(() => t.close());
  /** Sockets a test opened: destroyed after it, whatever happened, so that no request hangs the app's close. */
  const sockets: Socket[] = [];
  const openSocket = () => {
    const socket = connect(t.port, '127.0.0.1');
    sockets.push(socket);
    return socket;
  };
  afterEach(() => {
    for (const socket of sockets.splice(0)) socket.destroy();
  });

  it(`the app's own ${platform === 'fastify' ? 'onRequest hook' : 'app.use() middleware'}, added before Nest's, already runs in the request's context`, async () => {
    seenBeforeNest.length = 0;
    const res = await rawRequest(t.port, requestHead('GET', '/id', ['X-Request-Id: earlier-hook-1']));
    expect(JSON.parse(res.body)).toEqual({ id: 'earlier-hook-1' });
    expect(seenBeforeNest).toEqual(['earlier-hook-1']);
  });

  it('a JSON body of 200 kB (read in many socket reads) keeps the context through Nest middleware, guard, interceptor, pipe and handler', async () => {
    stagesSeen.length = 0;
    const pad = 'p'.repeat(200_000);
    const res = await fetch(`${t.url}/stages`, {
      method: 'POST',
      headers: { 'x-request-id': 'stages-1', 'content-type': 'application/json' },
      body: JSON.stringify({ pad }),
    });
    expect(res.status).toBe(201);
    expect(res.headers.get('x-request-id')).toBe('stages-1');
    expect(await res.json()).toEqual({ id: 'stages-1' });
    expect(stagesSeen).toEqual(STAGES.map((stage) => [stage, 'stages-1']));
    expect(
      t.logs
        .forRequest('stages-1')
        .filter((line) => line.context === 'ContextController')
        .map((line) => line.msg),
    ).toEqual(['body of 200000']);
  });

  it(`a 200 kB body read by the app's own parser (${platform === 'fastify' ? 'a content-type parser' : 'an app.use() middleware'}), which calls back from the request stream's events, still reaches Nest middleware, guard, interceptor, pipe and handler in it`, async () => {
    stagesSeen.length = 0;
    seenAfterManualBody.length = 0;
    const res = await fetch(`${t.url}/stages`, {
      method: 'POST',
      headers: { 'x-request-id': 'manual-body-1', 'content-type': MANUAL_TYPE },
      body: 'm'.repeat(200_000),
    });
    expect(res.status).toBe(201);
    expect(res.headers.get('x-request-id')).toBe('manual-body-1');
    expect(await res.json()).toEqual({ id: 'manual-body-1' });
    expect(seenAfterManualBody).toEqual(['manual-body-1']);
    expect(stagesSeen).toEqual(STAGES.map((stage) => [stage, 'manual-body-1']));
    expect(
      t.logs
        .forRequest('manual-body-1')
        .filter((line) => line.context === 'ContextController')
        .map((line) => line.msg),
    ).toEqual(['body of 200000']);
  });

  it(`the app's own ${platform === 'fastify' ? 'preValidation hook' : 'app.use() middleware'}, after its own body parser read a body, runs in the request's context`, async () => {
    seenAfterManualBody.length = 0;
    const res = await fetch(`${t.url}/stages`, {
      method: 'POST',
      headers: { 'x-request-id': 'manual-body-2', 'content-type': MANUAL_TYPE },
      body: 'm'.repeat(100),
    });
    expect(res.headers.get('x-request-id')).toBe('manual-body-2');
    expect(await res.json()).toEqual({ id: 'manual-body-2' });
    expect(seenAfterManualBody).toEqual(['manual-body-2']);
  });

  it('concurrent 200 kB bodies, interleaved on their sockets, each keep their own context', async () => {
    const pad = 'q'.repeat(200_000);
    const ids = ['body-a', 'body-b', 'body-c', 'body-d'];
    const bodies = await Promise.all(
      ids.map(async (id) => {
        const res = await fetch(`${t.url}/stages`, {
          method: 'POST',
          headers: { 'x-request-id': id, 'content-type': 'application/json' },
          body: JSON.stringify({ pad }),
        });
        return res.json() as Promise<unknown>;
      }),
    );
    expect(bodies).toEqual(ids.map((id) => ({ id })));
    for (const id of ids) {
      expect(
        t.logs
          .forRequest(id)
          .filter((line) => line.context === 'ContextController')
          .map((line) => line.msg),
      ).toEqual(['body of 200000']);
    }
  });

  it("a signal taken before Nest's code runs still aborts when the client goes away", async () => {
    const socket = openSocket();
    socket.on('error', () => {});
    socket.write(get('/until-cancelled', `${platform}-early-signal-1`, 'keep-alive'));
    await waitUntil(() => signalsTakenBeforeNest.has(`${platform}-early-signal-1`), 2_000);
    const signal = signalsTakenBeforeNest.get(`${platform}-early-signal-1`);
    expect(signal?.aborted).toBe(false);
    socket.destroy();
    await waitUntil(() => signal!.aborted, 2_000);
    expect(signal!.aborted).toBe(true);
    expect(signal!.reason).toBeInstanceOf(ClientDisconnectedError);
  });

  it('the signal a handler takes (getRequestSignal()) aborts when the client goes away, with isRequestCancelled()', async () => {
    const socket = openSocket();
    socket.on('error', () => {});
    socket.write(get('/until-cancelled', `${platform}-handler-signal-1`, 'keep-alive'));
    await waitUntil(() => signalsTakenByHandler.has(`${platform}-handler-signal-1`), 2_000);
    const signal = signalsTakenByHandler.get(`${platform}-handler-signal-1`)!;
    expect(signal.aborted).toBe(false);
    socket.destroy();
    await waitUntil(() => signal.aborted, 2_000);
    expect(signal.aborted).toBe(true);
    expect(signal.reason).toBeInstanceOf(ClientDisconnectedError);
    // And the handler, resuming in its context, sees its request cancelled.
    await waitUntil(() => seenAfterDisconnect.has(`${platform}-handler-signal-1`), 2_000);
    expect(seenAfterDisconnect.get(`${platform}-handler-signal-1`)).toEqual({ cancelled: true, signalAborted: true });
    // Its abort listener ran in the request's context: the line it writes ("stopping: client gone") has the id.
    expect(idsInAbortListeners.get(`${platform}-handler-signal-1`)).toBe(`${platform}-handler-signal-1`);
  });

  it('a client that goes away before its response ends the request\'s lines with one "request aborted", with its id', async () => {
    const id = `${platform}-aborted-line-1`;
    const socket = openSocket();
    socket.on('error', () => {});
    socket.write(get('/until-cancelled', id, 'keep-alive'));
    await waitUntil(() => signalsTakenByHandler.has(id), 2_000);
    socket.destroy();
    await waitUntil(() => seenAfterDisconnect.has(id), 2_000);
    await waitUntil(() => t.logs.forRequest(id).some((line) => line.msg === 'request aborted'), 2_000);
    const lines = t.logs.forRequest(id).map((line) => [line.level, line.msg]);
    expect(lines).toEqual([
      [30, 'incoming request'],
      [30, 'request aborted'],
    ]);
  });

  it('a client that goes away cancels its request even when its code had not taken the signal yet', async () => {
    const socket = openSocket();
    socket.on('error', () => {});
    socket.write(get('/poll-cancelled', `${platform}-poll-cancelled-1`, 'keep-alive'));
    await waitUntil(() => pollStarted.has(`${platform}-poll-cancelled-1`), 3_000);
    socket.destroy();
    await waitUntil(() => seenAfterDisconnect.has(`${platform}-poll-cancelled-1`), 3_000);
    expect(seenAfterDisconnect.get(`${platform}-poll-cancelled-1`)).toEqual({ cancelled: true, signalAborted: true });
  });

  it('a client that goes away after its response is complete cancels nothing: the signal its handler took never aborts', async () => {
    const id = `${platform}-answered-then-gone-1`;
    const socket = openSocket();
    socket.on('error', () => {});
    const answered = new Promise<void>((resolve) => socket.once('data', () => resolve()));
    socket.write(get('/signal-then-answer', id, 'keep-alive'));
    await answered;
    const signal = signalsTakenByHandler.get(id)!;
    socket.destroy();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(signal.aborted).toBe(false);
  });

  /** Requests `path` as `id` on a connection kept open, and expects the request object collected meanwhile. */
  async function expectCollectedWhileConnectionOpen(path: string, id: string): Promise<void> {
    const socket = openSocket();
    socket.on('error', () => {});
    const answered = new Promise<void>((resolve) => socket.once('data', () => resolve()));
    socket.write(get(path, id, 'keep-alive'));
    await answered;
    try {
      await waitUntil(() => {
        collectGarbage();
        return collected.has(id);
      }, 3_000);
    } finally {
      socket.destroy();
    }
  }

  it('a finished request leaves nothing of itself to its open connection', async () => {
    // Node makes the connection's keep-alive timer inside the request's context, and the timer holds
    // that context until the connection's next request: the context must not hold the request.
    await expectCollectedWhileConnectionOpen('/remembered', `${platform}-collectable-1`);
  });

  it('a finished request whose handler took its signal, with a listener holding the request, is collected too', async () => {
    // The context the timer holds keeps the request's cancellation, which keeps the signal and its
    // listeners, until the response completes and the context lets go of it.
    await expectCollectedWhileConnectionOpen('/remembered-with-signal', `${platform}-collectable-signal-1`);
    expect(abortsSeen.size).toBe(0);
  });

  it('pipelined requests on one connection each run in their own context', async () => {
    const text = await exchange(
      t.port,
      get('/id', 'piped-a', 'keep-alive') + get('/id', 'piped-b', 'keep-alive') + get('/id', 'piped-c', 'close'),
    );
    expect([...text.matchAll(/x-request-id: (\S+)/g)].map((m) => m[1])).toEqual(['piped-a', 'piped-b', 'piped-c']);
    expect([...text.matchAll(/\{"id":"([^"]+)"\}/g)].map((m) => m[1])).toEqual(['piped-a', 'piped-b', 'piped-c']);
  });

  it("pipelined requests without an id each get a new one, not the previous request's", async () => {
    const text = await exchange(
      t.port,
      get('/id', 'piped-first', 'keep-alive') + get('/id', undefined, 'keep-alive') + get('/id', undefined, 'close'),
    );
    const headers = [...text.matchAll(/x-request-id: (\S+)/g)].map((m) => m[1]);
    const bodies = [...text.matchAll(/\{"id":"([^"]+)"\}/g)].map((m) => m[1]);
    expect(bodies).toEqual(headers);
    expect(headers[0]).toBe('piped-first');
    expect(headers[1]).toMatch(UUID_V4);
    expect(headers[2]).toMatch(UUID_V4);
    expect(headers[2]).not.toBe(headers[1]);
  });

  it("a keep-alive connection's next request, sent after the first response, sees its own id or a new one", async () => {
    const socket = openSocket();
    socket.setEncoding('latin1');
    socket.on('error', () => {});
    try {
      const first = await ask(socket, get('/id', 'keep-alive-first', 'keep-alive'));
      expect(first).toEqual({ header: 'keep-alive-first', body: 'keep-alive-first' });
      const second = await ask(socket, get('/id', undefined, 'keep-alive'));
      expect(second.header).toMatch(UUID_V4);
      expect(second.body).toBe(second.header);
      const third = await ask(socket, get('/id', 'keep-alive-third', 'keep-alive'));
      expect(third).toEqual({ header: 'keep-alive-third', body: 'keep-alive-third' });
    } finally {
      socket.destroy();
    }
  });

  /** Sends one request on an open connection and reads its (small, `{"id":...}`) response. */
  function ask(socket: Socket, bytes: string): Promise<{ header: string | undefined; body: string | undefined }> {
    return new Promise((resolve) => {
      let text = '';
      const onData = (chunk: string) => {
        text += chunk;
        const body = /\{"id":"([^"]+)"\}/.exec(text);
        if (body === null) return;
        socket.off('data', onData);
        resolve({ header: /x-request-id: (\S+)/.exec(text)?.[1], body: body[1] });
      };
      socket.on('data', onData);
      socket.write(bytes);
    });
  }

  it("a connection's next request reaches the server's own listeners with no id, not the previous request's", async () => {
    const { seen, text } = await idsSeenOnServer(
      'request',
      get('/id', 'first-on-socket', 'keep-alive') + get('/id', 'second-on-socket', 'close'),
    );
    expect([...text.matchAll(/x-request-id: (\S+)/g)].map((m) => m[1])).toEqual([
      'first-on-socket',
      'second-on-socket',
    ]);
    expect(seen).toEqual([undefined, undefined]);
  });

  it("bytes that are not HTTP after a request are a client error handled outside that request's context", async () => {
    const { seen, text } = await idsSeenOnServer(
      'clientError',
      get('/id', 'before-garbage', 'keep-alive') + 'NOT HTTP AT ALL\r\n\r\n',
    );
    // The error is answered and the connection closed before the first request's handler is done.
    expect(text).toContain('HTTP/1.1 400');
    expect(seen).toEqual([undefined]);
  });

  /** Sends `bytes` on one connection; `seen` has the id current in each call of a first listener for the server's `event`. */
  async function idsSeenOnServer(
    event: 'request' | 'clientError',
    bytes: string,
  ): Promise<{ seen: Array<string | undefined>; text: string }> {
    const server = t.app.getHttpServer() as Server;
    const seen: Array<string | undefined> = [];
    // Fastify listens for client errors; on Express, Node answers them itself, but only while nobody
    // listens: with this listener alone, it must answer as Node would.
    const answerAsNode = event === 'clientError' && server.listenerCount('clientError') === 0;
    const listener = (_error: unknown, socket?: Socket) => {
      seen.push(getCurrentRequestId());
      if (answerAsNode) socket?.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    };
    server.prependListener(event, listener);
    try {
      return { seen, text: await exchange(t.port, bytes) };
    } finally {
      server.removeListener(event, listener);
    }
  }

  it.runIf(platform === 'fastify')(
    "after app.inject's response, the caller's own code sees no id (Fastify only: Express has no inject)",
    async () => {
      await t.fastify().inject({ method: 'GET', url: '/id', headers: { 'x-request-id': 'inject-leak-check' } });
      expect(getCurrentRequestId()).toBeUndefined();
    },
  );

  it("after a response over a real socket, the caller's own code sees no id", async () => {
    await fetch(`${t.url}/id`, { headers: { 'x-request-id': 'fetch-leak-check' } }).then((r) => r.text());
    expect(getCurrentRequestId()).toBeUndefined();
  });
});

describe.each(PLATFORMS)('HTTP ingress on %s, its request lines turned off', (platform) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ platform, controllers: [ContextController], requestLogging: false });
  });
  afterAll(() => t.close());

  it('a client that goes away writes no "request aborted" either', async () => {
    const id = `${platform}-quiet-aborted-1`;
    const socket = connect(t.port, '127.0.0.1');
    socket.on('error', () => {});
    socket.write(get('/until-cancelled', id, 'keep-alive'));
    await waitUntil(() => signalsTakenByHandler.has(id), 2_000);
    socket.destroy();
    await waitUntil(() => seenAfterDisconnect.has(id), 2_000);
    // The handler's answer, after the abort, is the last thing the request does.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(t.logs.forRequest(id)).toEqual([]);
  });
});
