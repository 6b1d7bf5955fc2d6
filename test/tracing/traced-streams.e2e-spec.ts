import {
  ConflictException,
  Controller,
  Get,
  Injectable,
  Logger,
  Param,
  Res,
  Sse,
  StreamableFile,
} from '@nestjs/common';
import type { MessageEvent, Type } from '@nestjs/common';
import type { Response } from 'express';
import type { FastifyReply } from 'fastify';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { finalize, from, interval, lastValueFrom, map, Observable, toArray } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getCurrentRequestId, RequestId, RequestIdService, Traced } from '@threadline/tracing';
import type { LogLine } from '../support/log-capture.js';
import { UUID_V4 } from '../support/raw-http.js';
import { readSseThenDisconnect, sseData } from '../support/sse.js';
import { PLATFORMS, startTestApp } from '../support/test-app.js';
import type { Platform, TestApp } from '../support/test-app.js';
import { waitUntil } from '../support/wait-for.js';

const CHUNKS = 5;
const DEBUG = 20;
const INFO = 30;
const ERROR = 50;

const smallDelay = () => 1 + Math.floor(Math.random() * 6);

/** What chunk `i` of stream `label` is when it was produced in the context of request `label`. */
const chunkText = (label: string, i: number, saw: string | undefined) => `${label}:${i}:${String(saw)};`;
const expectedBody = (label: string, count = CHUNKS) =>
  Array.from({ length: count }, (_, i) => chunkText(label, i, label)).join('');

@Injectable()
class ChunkSource {
  private readonly logger = new Logger('ChunkSource');
  /** Thrown as they are, so that a test can check that the very same object comes back out. */
  readonly syncError = new Error('sync boom');
  readonly asyncError = new ConflictException('async boom');

  /** Each chunk is produced after an await, reads the id, and logs a line. */
  @Traced()
  async *chunks(label: string, count: number): AsyncGenerator<string> {
    for (let i = 0; i < count; i++) {
      await sleep(smallDelay());
      const saw = getCurrentRequestId();
      this.logger.log(`chunk ${i} of ${label} saw ${String(saw)}`, { label, chunk: i, saw: saw ?? null });
      yield chunkText(label, i, saw);
    }
  }

  @Traced()
  async compute(x: number): Promise<{ value: number; id: string | undefined }> {
    await sleep(5);
    return { value: x * 2, id: getCurrentRequestId() };
  }

  @Traced()
  failSync(): number {
    throw this.syncError;
  }

  @Traced()
  async failAsync(): Promise<number> {
    await sleep(2);
    throw this.asyncError;
  }

  /** An Observable whose producer (a timer) reads the id each time it emits. */
  @Traced()
  ticks(label: string, count: number): Observable<string> {
    return new Observable<string>((subscriber) => {
      let i = 0;
      const timer = setInterval(() => {
        const saw = getCurrentRequestId();
        this.logger.log(`tick ${i} of ${label} saw ${String(saw)}`, { label, tick: i, saw: saw ?? null });
        subscriber.next(`${label}:${i}:${String(saw)}`);
        if (++i === count) {
          clearInterval(timer);
          subscriber.complete();
        }
      }, 3);
      return () => clearInterval(timer);
    });
  }

  @Traced()
  async whoAmI(@RequestId() id?: string): Promise<{ param: string | undefined; ctx: string | undefined }> {
    await sleep(1);
    return { param: id, ctx: getCurrentRequestId() };
  }
}

const streamLogger = new Logger('StreamController');

/** Logged by a handler just before it returns (or hands over) the not yet read stream. */
function returning(label: string, variant: string): void {
  streamLogger.log(`handler returning the ${variant} stream of ${label}`, { label, phase: 'returned' });
}

@Controller('stream')
class StreamController {
  constructor(private readonly source: ChunkSource) {}

  @Get('file/:label')
  file(@Param('label') label: string): StreamableFile {
    const file = new StreamableFile(Readable.from(this.source.chunks(label, CHUNKS)), { type: 'text/plain' });
    returning(label, 'file');
    return file;
  }

  @Sse('sse/:label')
  sse(@Param('label') label: string): Observable<MessageEvent> {
    const events = from(this.source.chunks(label, CHUNKS)).pipe(map((data): MessageEvent => ({ data })));
    returning(label, 'sse');
    return events;
  }

  @Get('compute/:x')
  compute(@Param('x') x: string) {
    return this.source.compute(Number(x));
  }

  @Get('fail-sync')
  failSync(): number {
    return this.source.failSync();
  }

  @Get('fail-async')
  failAsync(): Promise<number> {
    return this.source.failAsync();
  }

  @Get('obs/:label')
  obs(@Param('label') label: string): Observable<string[]> {
    return this.source.ticks(label, 3).pipe(toArray());
  }

  @Get('who')
  who() {
    return this.source.whoAmI();
  }
}

/**
 * The stream variants that use the platform's own response API. `passthrough`: the handler sets a header
 * on the response Nest keeps answering for and returns the stream (Fastify sends a Readable as it is;
 * Express's Nest adapter sends streams only as a StreamableFile). `raw`: the handler sends the stream on
 * the response itself (Fastify's `reply.send()`; on Express, piped into `res`).
 */
@Controller('stream')
class FastifyStreamRoutes {
  constructor(private readonly source: ChunkSource) {}

  @Get('passthrough/:label')
  passthrough(@Param('label') label: string, @Res({ passthrough: true }) reply: FastifyReply): Readable {
    reply.header('content-type', 'text/plain');
    const stream = Readable.from(this.source.chunks(label, CHUNKS));
    returning(label, 'passthrough');
    return stream;
  }

  @Get('raw/:label')
  raw(@Param('label') label: string, @Res() reply: FastifyReply): void {
    void reply.type('text/plain').send(Readable.from(this.source.chunks(label, CHUNKS)));
    returning(label, 'raw');
  }
}

@Controller('stream')
class ExpressStreamRoutes {
  constructor(private readonly source: ChunkSource) {}

  @Get('passthrough/:label')
  passthrough(@Param('label') label: string, @Res({ passthrough: true }) res: Response): StreamableFile {
    res.setHeader('content-type', 'text/plain');
    const file = new StreamableFile(Readable.from(this.source.chunks(label, CHUNKS)));
    returning(label, 'passthrough');
    return file;
  }

  @Get('raw/:label')
  raw(@Param('label') label: string, @Res() res: Response): void {
    res.type('text/plain');
    Readable.from(this.source.chunks(label, CHUNKS)).pipe(res);
    returning(label, 'raw');
  }
}

const PLATFORM_STREAM_ROUTES: Record<Platform, Type> = { fastify: FastifyStreamRoutes, express: ExpressStreamRoutes };

@Traced()
@Controller('traced-class')
class TracedClassController {
  @Get('sync')
  sync() {
    return { id: getCurrentRequestId() ?? null, doubled: this.helper(21) };
  }

  @Get('async')
  async later() {
    await sleep(3);
    return { id: getCurrentRequestId() ?? null };
  }

  /** Not a route: a class-level @Traced() leaves it alone. */
  helper(x: number): number {
    return x * 2;
  }
}

interface Counter {
  emitted: number;
  finalized: number;
  /** The request id `finalize` ran under. */
  finalizedUnder?: string | undefined;
}
const teardown: Record<'plain' | 'traced', Counter> = {
  plain: { emitted: 0, finalized: 0 },
  traced: { emitted: 0, finalized: 0 },
};

function ticker(counter: Counter): Observable<MessageEvent> {
  return interval(20).pipe(
    map((n): MessageEvent => {
      counter.emitted++;
      return { data: `${n}:${String(getCurrentRequestId())}` };
    }),
    finalize(() => {
      counter.finalized++;
      counter.finalizedUnder = getCurrentRequestId();
    }),
  );
}

@Controller('teardown')
class TeardownController {
  @Sse('plain')
  plain(): Observable<MessageEvent> {
    return ticker(teardown.plain);
  }

  @Traced()
  @Sse('traced')
  traced(): Observable<MessageEvent> {
    return ticker(teardown.traced);
  }
}

describe.each(PLATFORMS)('@Traced() streams, promises and observables on %s', (platform) => {
  let t: TestApp;

  beforeAll(async () => {
    for (const counter of Object.values(teardown)) Object.assign(counter, { emitted: 0, finalized: 0 });
    t = await startTestApp({
      platform,
      controllers: [StreamController, PLATFORM_STREAM_ROUTES[platform], TracedClassController, TeardownController],
      providers: [ChunkSource],
    });
  });
  afterAll(() => t.close());

  const tracedLines = (id: string, method: string) => t.logs.forRequest(id).filter((line) => line.method === method);

  it('streams a @Traced() async generator through the platform (StreamableFile, passthrough, raw response, SSE) with each chunk in its request context', async () => {
    const variants = ['file', 'passthrough', 'raw', 'sse'] as const;
    const perVariant = 10;
    const jobs = variants.flatMap((variant) =>
      Array.from({ length: perVariant }, (_, k) => ({ variant, id: `${variant}-stream-${k}` })),
    );
    // All streams at once, so that their chunks interleave.
    const results = await Promise.all(
      jobs.map(async ({ variant, id }) => {
        const res = await fetch(`${t.url}/stream/${variant}/${id}`, { headers: { 'x-request-id': id } });
        return { variant, id, status: res.status, header: res.headers.get('x-request-id'), body: await res.text() };
      }),
    );

    for (const r of results) {
      expect({ id: r.id, status: r.status, header: r.header }).toEqual({ id: r.id, status: 200, header: r.id });
      if (r.variant === 'sse') {
        expect(sseData(r.body)).toEqual(Array.from({ length: CHUNKS }, (_, i) => chunkText(r.id, i, r.id)));
      } else {
        expect(r.body).toBe(expectedBody(r.id));
      }
    }

    const raw = t.logs.raw;
    for (const { id } of jobs) {
      // One line per chunk, logged inside the generator, each with this request's id (and no other).
      const chunkLines = t.logs.lines.filter((line) => line.context === 'ChunkSource' && line.label === id);
      expect(chunkLines.map((line) => [line.chunk, line.requestId, line.saw, line.level])).toEqual(
        Array.from({ length: CHUNKS }, (_, i) => [i, id, id, INFO]),
      );
      // The id was not reset once the handler returned: every chunk was produced after that, with the id.
      const returnedAt = raw.findIndex(
        (line) => line.includes('"phase":"returned"') && line.includes(`"label":"${id}"`),
      );
      const firstChunkAt = raw.findIndex(
        (line) => line.includes('"context":"ChunkSource"') && line.includes(`"label":"${id}"`),
      );
      expect(returnedAt).toBeGreaterThan(-1);
      expect(firstChunkAt).toBeGreaterThan(returnedAt);
      expect((JSON.parse(raw[returnedAt]!) as LogLine).requestId).toBe(id);
      // @Traced() logged the generator's start and its end, in the request's context.
      const traced = tracedLines(id, 'ChunkSource.chunks');
      expect(traced.map((line) => [line.msg, line.level])).toEqual([
        ['ChunkSource.chunks started', DEBUG],
        ['ChunkSource.chunks ended', DEBUG],
      ]);
      expect(traced[1]).toMatchObject({ outcome: 'ended', requestId: id });
      expect(typeof traced[1]!.durationMs).toBe('number');
    }
  });

  it('a @Traced() generator keeps the id of the context it was created in, whoever pulls from it and when', async () => {
    const source = t.app.get(ChunkSource);
    const ids = t.app.get(RequestIdService);
    // Created inside a context that has ended by the time anything is read from it.
    const early = ids.run(() => source.chunks('created-ctx', 3), 'created-ctx');
    const late = ids.run(() => source.chunks('created-ctx-2', 3), 'created-ctx-2');
    expect(getCurrentRequestId()).toBeUndefined();
    await sleep(10);

    // Pulled from no context at all...
    const pulledOutside: string[] = [];
    for await (const chunk of early) pulledOutside.push(chunk);
    expect(pulledOutside).toEqual([0, 1, 2].map((i) => chunkText('created-ctx', i, 'created-ctx')));

    // ...and from another request's context: the chunks still see the creator's id, the consumer its own.
    const consumerSaw: Array<string | undefined> = [];
    const pulledElsewhere = await ids.run(async () => {
      const out: string[] = [];
      for await (const chunk of late) {
        out.push(chunk);
        consumerSaw.push(getCurrentRequestId());
      }
      return out;
    }, 'consumer-ctx');
    expect(pulledElsewhere).toEqual([0, 1, 2].map((i) => chunkText('created-ctx-2', i, 'created-ctx-2')));
    expect(consumerSaw).toEqual(['consumer-ctx', 'consumer-ctx', 'consumer-ctx']);
    expect(t.logs.forRequest('consumer-ctx').filter((line) => line.context === 'ChunkSource')).toEqual([]);
    expect(
      t.logs
        .forRequest('created-ctx-2')
        .filter((line) => line.context === 'ChunkSource')
        .map((line) => line.chunk),
    ).toEqual([0, 1, 2]);
  });

  it('@Traced() on a Promise method logs start and end at debug with method, durationMs and the id', async () => {
    const ids = ['compute-1', 'compute-2', 'compute-3'];
    const results = await Promise.all(
      ids.map(async (id, i) => {
        const res = await fetch(`${t.url}/stream/compute/${i + 1}`, { headers: { 'x-request-id': id } });
        return { status: res.status, header: res.headers.get('x-request-id'), body: (await res.json()) as unknown };
      }),
    );
    expect(results).toEqual(ids.map((id, i) => ({ status: 200, header: id, body: { value: (i + 1) * 2, id } })));
    for (const id of ids) {
      const lines = tracedLines(id, 'ChunkSource.compute');
      expect(lines.map((line) => [line.msg, line.level, line.requestId])).toEqual([
        ['ChunkSource.compute started', DEBUG, id],
        ['ChunkSource.compute ended', DEBUG, id],
      ]);
      expect(lines[1]!.outcome).toBe('ended');
      expect(typeof lines[1]!.durationMs).toBe('number');
      expect(lines[1]!.durationMs as number).toBeGreaterThanOrEqual(4);
      expect(lines[1]!.durationMs as number).toBeLessThan(5_000);
    }
  });

  it('@Traced() on a method that throws synchronously logs the failure with the id and rethrows the same error', async () => {
    const res = await fetch(`${t.url}/stream/fail-sync`, { headers: { 'x-request-id': 'fail-sync-1' } });
    expect(res.status).toBe(500);
    expect(res.headers.get('x-request-id')).toBe('fail-sync-1');
    expect(await res.json()).toEqual({ statusCode: 500, message: 'Internal server error' });
    const failed = tracedLines('fail-sync-1', 'ChunkSource.failSync');
    expect(failed.map((line) => [line.msg, line.level])).toEqual([
      ['ChunkSource.failSync started', DEBUG],
      ['ChunkSource.failSync failed', ERROR],
    ]);
    expect(failed[1]).toMatchObject({ requestId: 'fail-sync-1', err: { message: 'sync boom', type: 'Error' } });
    expect(typeof failed[1]!.durationMs).toBe('number');

    // Called directly, the very same error object comes out.
    const source = t.app.get(ChunkSource);
    let thrown: unknown;
    try {
      source.failSync();
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBe(source.syncError);
  });

  it('@Traced() on an async method that rejects logs the failure with the id and rethrows the same error (HttpException status kept)', async () => {
    const res = await fetch(`${t.url}/stream/fail-async`, { headers: { 'x-request-id': 'fail-async-1' } });
    expect(res.status).toBe(409);
    expect(res.headers.get('x-request-id')).toBe('fail-async-1');
    expect(await res.json()).toEqual({ statusCode: 409, message: 'async boom', error: 'Conflict' });
    const failed = tracedLines('fail-async-1', 'ChunkSource.failAsync');
    expect(failed.map((line) => [line.msg, line.level])).toEqual([
      ['ChunkSource.failAsync started', DEBUG],
      ['ChunkSource.failAsync failed', ERROR],
    ]);
    expect(failed[1]).toMatchObject({ requestId: 'fail-async-1', err: { message: 'async boom' } });

    const source = t.app.get(ChunkSource);
    const rejected = await source.failAsync().then(
      () => 'resolved',
      (error: unknown) => error,
    );
    expect(rejected).toBe(source.asyncError);
  });

  it('@Traced() on an Observable-returning method binds its producer to the context it was created in', async () => {
    const source = t.app.get(ChunkSource);
    const ids = t.app.get(RequestIdService);
    const observable = ids.run(() => source.ticks('obs-direct', 3), 'obs-direct');
    // Subscribed to outside any context: the producer still sees the creator's id.
    expect(getCurrentRequestId()).toBeUndefined();
    expect(await lastValueFrom(observable.pipe(toArray()))).toEqual([
      'obs-direct:0:obs-direct',
      'obs-direct:1:obs-direct',
      'obs-direct:2:obs-direct',
    ]);
    const traced = tracedLines('obs-direct', 'ChunkSource.ticks');
    expect(traced.map((line) => [line.msg, line.level, line.outcome])).toEqual([
      ['ChunkSource.ticks started', DEBUG, undefined],
      ['ChunkSource.ticks ended', DEBUG, 'ended'],
    ]);
    expect(
      t.logs
        .forRequest('obs-direct')
        .filter((line) => line.context === 'ChunkSource')
        .map((line) => line.tick),
    ).toEqual([0, 1, 2]);

    // Over HTTP, concurrently.
    const labels = ['obs-http-1', 'obs-http-2', 'obs-http-3', 'obs-http-4'];
    const bodies = await Promise.all(
      labels.map(async (id) => {
        const res = await fetch(`${t.url}/stream/obs/${id}`, { headers: { 'x-request-id': id } });
        return res.json() as Promise<unknown>;
      }),
    );
    expect(bodies).toEqual(labels.map((id) => [0, 1, 2].map((i) => `${id}:${i}:${id}`)));
    for (const id of labels) {
      expect(
        t.logs.lines
          .filter((line) => line.context === 'ChunkSource' && line.label === id)
          .map((line) => line.requestId),
      ).toEqual([id, id, id]);
    }
  });

  it('@Traced() on a class traces its route handlers, and only those', async () => {
    const sync = await fetch(`${t.url}/traced-class/sync`, { headers: { 'x-request-id': 'class-sync-1' } });
    expect(await sync.json()).toEqual({ id: 'class-sync-1', doubled: 42 });
    const later = await fetch(`${t.url}/traced-class/async`, { headers: { 'x-request-id': 'class-async-1' } });
    expect(await later.json()).toEqual({ id: 'class-async-1' });

    expect(tracedLines('class-sync-1', 'TracedClassController.sync').map((line) => [line.msg, line.level])).toEqual([
      ['TracedClassController.sync started', DEBUG],
      ['TracedClassController.sync ended', DEBUG],
    ]);
    const asyncLines = tracedLines('class-async-1', 'TracedClassController.later');
    expect(asyncLines.map((line) => [line.msg, line.level])).toEqual([
      ['TracedClassController.later started', DEBUG],
      ['TracedClassController.later ended', DEBUG],
    ]);
    expect(asyncLines[1]!.durationMs as number).toBeGreaterThanOrEqual(2);
    expect(t.logs.lines.filter((line) => line.method === 'TracedClassController.helper')).toEqual([]);
  });

  it('a @Traced() method called outside any context opens its own, with a new UUID or the valid id passed to @RequestId()', async () => {
    const source = t.app.get(ChunkSource);
    expect(getCurrentRequestId()).toBeUndefined();

    const first = await source.whoAmI();
    expect(first.ctx).toMatch(UUID_V4);
    const firstLines = tracedLines(first.ctx!, 'ChunkSource.whoAmI');
    expect(firstLines.map((line) => line.msg)).toEqual(['ChunkSource.whoAmI started', 'ChunkSource.whoAmI ended']);
    expect(getCurrentRequestId()).toBeUndefined();

    // From a timer: another new id, never the previous call's.
    const fromTimer = await new Promise<{ ctx: string | undefined }>((resolve, reject) => {
      setTimeout(() => {
        source.whoAmI().then(resolve, reject);
      }, 1);
    });
    expect(fromTimer.ctx).toMatch(UUID_V4);
    expect(fromTimer.ctx).not.toBe(first.ctx);

    // A valid id passed in the @RequestId() parameter becomes the context's id.
    expect(await source.whoAmI('job-7')).toEqual({ param: 'job-7', ctx: 'job-7' });
    expect(tracedLines('job-7', 'ChunkSource.whoAmI').map((line) => line.msg)).toEqual([
      'ChunkSource.whoAmI started',
      'ChunkSource.whoAmI ended',
    ]);

    // An invalid one does not.
    const invalid = await source.whoAmI('bad id');
    expect(invalid.ctx).toMatch(UUID_V4);
    expect(t.logs.forRequest('bad id')).toEqual([]);

    // Inside a request, the parameter is filled from the request's context.
    const res = await fetch(`${t.url}/stream/who`, { headers: { 'x-request-id': 'who-1' } });
    expect(await res.json()).toEqual({ param: 'who-1', ctx: 'who-1' });
  });

  it('a @Traced() method called outside any context with no id fills its @RequestId() parameter with the id of the context it opened', async () => {
    const source = t.app.get(ChunkSource);
    const result = await source.whoAmI();
    expect(result.ctx).toMatch(UUID_V4);
    expect(result.param).toBe(result.ctx);
  });

  it.each([
    ['plain', 'sse-teardown-plain'],
    ['traced', 'sse-teardown-traced'],
  ] as const)('@Sse() %s: a client that disconnects unsubscribes the producer within 1s', async (route, id) => {
    const counter = teardown[route];
    const { head, data } = await readSseThenDisconnect(t.port, `/teardown/${route}`, id, 3);
    expect(head.split('\r\n')[0]).toBe('HTTP/1.1 200 OK');
    expect(head.toLowerCase()).toContain(`\r\nx-request-id: ${id}`);
    expect(head.toLowerCase()).toContain('\r\ncontent-type: text/event-stream');
    expect(data.slice(0, 3)).toEqual([`0:${id}`, `1:${id}`, `2:${id}`]);
    expect(counter.emitted).toBeGreaterThanOrEqual(3);

    // The socket is gone: the producer must be torn down promptly, and stop emitting.
    await waitUntil(() => counter.finalized === 1, 1_000);
    const emittedAtTeardown = counter.emitted;
    await sleep(100);
    expect(counter.emitted).toBe(emittedAtTeardown);
    expect(counter.finalized).toBe(1);

    if (route === 'traced') {
      // Its teardown ran in the request's context, though the socket's close unsubscribed it.
      expect(counter.finalizedUnder).toBe(id);
      const lines = tracedLines(id, 'TeardownController.traced');
      expect(lines.map((line) => [line.msg, line.outcome])).toEqual([
        ['TeardownController.traced started', undefined],
        ['TeardownController.traced cancelled', 'cancelled'],
      ]);
    }
  });
});
