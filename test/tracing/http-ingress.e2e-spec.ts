import {
  BadRequestException,
  Body,
  ConflictException,
  Controller,
  Get,
  Injectable,
  Logger,
  Param,
  Post,
  Res,
  Sse,
  StreamableFile,
  UseGuards,
} from '@nestjs/common';
import type { CanActivate, MessageEvent, Type } from '@nestjs/common';
import { RouteSchema } from '@nestjs/platform-fastify';
import express from 'express';
import type { Response } from 'express';
import type { FastifyReply } from 'fastify';
import type { ServerResponse } from 'node:http';
import { defer, from, map, of } from 'rxjs';
import type { Observable } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getCurrentRequestId, RequestId, RequestIdService } from '@threadline/tracing';
import { isCompletionLine, waitForCompletion } from '../support/access-lines.js';
import { waitForLines } from '../support/log-capture.js';
import type { LogLine } from '../support/log-capture.js';
import { rawRequest, requestHead, UUID_V4 } from '../support/raw-http.js';
import { PLATFORMS, startTestApp } from '../support/test-app.js';
import type { Platform, TestApp } from '../support/test-app.js';

/**
 * HTTP ingress, on Fastify and on Express: every kind of
 * response carries `x-request-id`, equal byte for byte to a valid incoming id, or a generated UUIDv4
 * when none was sent; and the log lines of a request carry it as `requestId` (never Fastify's `reqId`).
 */

const BODY_LIMIT = 1024;
/** One headers object that a handler passes to every raw writeHead: the id must never be added to it. */
const SHARED_HEADERS = Object.freeze({ 'content-type': 'text/plain' });
const VALIDATION_MESSAGE = "body must have required property 'name'";

@Injectable()
class DenyAllGuard implements CanActivate {
  canActivate(): boolean {
    return false;
  }
}

@Controller()
class IngressController {
  private readonly logger = new Logger('IngressController');

  constructor(private readonly requestIds: RequestIdService) {}

  @Get('ok')
  ok() {
    this.logger.log('handler ran');
    return { ok: true, id: getCurrentRequestId() };
  }

  @Get('who')
  who(@RequestId() param: string) {
    return { param, service: this.requestIds.id ?? null, current: getCurrentRequestId() ?? null };
  }

  @Get('bad-request')
  badRequest() {
    throw new BadRequestException('the input was wrong');
  }

  @Get('conflict')
  conflict() {
    throw new ConflictException('it already exists');
  }

  @Get('boom')
  boom() {
    throw new Error('unexpected failure in the handler');
  }

  @Get('guarded')
  @UseGuards(DenyAllGuard)
  guarded() {
    return { reached: true };
  }

  @Post('upload')
  upload(@Body() body: unknown) {
    return { received: JSON.stringify(body).length };
  }

  @Sse('events')
  events(): Observable<MessageEvent> {
    // Each event reads the id when it is produced, i.e. while Nest's SSE writer pulls from the stream.
    return from([1, 2, 3]).pipe(map((n) => ({ data: { n, id: getCurrentRequestId() ?? null } })));
  }

  @Get('file')
  file() {
    return new StreamableFile(Buffer.from('file-bytes-0123456789'), { type: 'text/plain' });
  }

  @Get('observable')
  observable() {
    return defer(() => of({ id: getCurrentRequestId() ?? null }));
  }
}

/**
 * What a handler writes on the response itself, bypassing Nest and the platform: the same Node calls on
 * both platforms, given `reply.raw` after `reply.hijack()` on Fastify and Express's `res` (a Node
 * ServerResponse) on Express.
 */
const RAW_WRITES = {
  plain(res: ServerResponse) {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('x');
  },
  deferred(res: ServerResponse) {
    // Written later, from a timer: the header must already be on the response.
    return new Promise<void>((resolve) =>
      setTimeout(() => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('later');
        resolve();
      }, 5),
    );
  },
  implicit(res: ServerResponse) {
    // No writeHead: Node writes the head implicitly on the first write.
    res.write('imp');
    res.end('licit');
  },
  reason(res: ServerResponse) {
    res.writeHead(200, 'Fine Thanks', SHARED_HEADERS);
    res.end('with a reason phrase');
  },
  array(res: ServerResponse) {
    res.writeHead(200, ['content-type', 'text/plain', 'x-extra', 'yes']);
    res.end('flat array');
  },
} satisfies Record<string, (res: ServerResponse) => void | Promise<void>>;

type RawWrite = keyof typeof RAW_WRITES;

/** The routes that use the platform's own API: raw writes, and request validation before the handler. */
@Controller()
class FastifyRoutes {
  @Get('raw/:kind')
  raw(@Param('kind') kind: RawWrite, @Res() reply: FastifyReply) {
    reply.hijack();
    return RAW_WRITES[kind](reply.raw);
  }

  @Post('validated')
  @RouteSchema({
    body: {
      type: 'object',
      required: ['name'],
      properties: { name: { type: 'string' } },
    },
  })
  validated(@Body() body: { name: string }) {
    return { name: body.name };
  }
}

@Controller()
class ExpressRoutes {
  @Get('raw/:kind')
  raw(@Param('kind') kind: RawWrite, @Res() res: Response) {
    return RAW_WRITES[kind](res);
  }

  /** Express has no route schemas: the handler refuses the body itself, with the answer Fastify's schema gives. */
  @Post('validated')
  validated(@Body() body: { name?: unknown }) {
    if (typeof body.name !== 'string') throw new BadRequestException({ statusCode: 400, message: VALIDATION_MESSAGE });
    return { name: body.name };
  }
}

const PLATFORM_ROUTES: Record<Platform, Type> = { fastify: FastifyRoutes, express: ExpressRoutes };

interface Reply {
  status: number;
  headers: Record<string, string | string[] | number | undefined>;
  body: string;
}

type Transport = 'socket' | 'inject';

interface Case {
  name: string;
  method: 'GET' | 'POST';
  path: string;
  contentType?: string;
  payload?: string;
  status: number;
  /** Checks the body; `id` is the id the response header carried. */
  body: (body: string, id: string, platform: Platform) => void;
  /** Extra checks on the headers. */
  headers?: (headers: Reply['headers']) => void;
  /**
   * Over the socket, use `fetch` instead of `rawRequest`: Nest's SSE writer sends `Connection: keep-alive`
   * even to a client that asked for `close`, so the socket stays open and `rawRequest` (which reads until
   * close) would never return.
   */
  viaFetch?: boolean;
}

const json = (text: string): unknown => JSON.parse(text);

const CASES: Case[] = [
  {
    name: '2xx JSON',
    method: 'GET',
    path: '/ok',
    status: 200,
    body: (body, id) => expect(json(body)).toEqual({ ok: true, id }),
    headers: (h) => expect(String(h['content-type'])).toMatch(/^application\/json/),
  },
  {
    name: "a controller's @RequestId() parameter and RequestIdService (2xx JSON)",
    method: 'GET',
    path: '/who',
    status: 200,
    body: (body, id) => expect(json(body)).toEqual({ param: id, service: id, current: id }),
  },
  {
    name: 'an Observable result (2xx JSON)',
    method: 'GET',
    path: '/observable',
    status: 200,
    body: (body, id) => expect(json(body)).toEqual({ id }),
  },
  {
    name: 'a thrown HttpException (400)',
    method: 'GET',
    path: '/bad-request',
    status: 400,
    body: (body) =>
      expect(json(body)).toEqual({ statusCode: 400, error: 'Bad Request', message: 'the input was wrong' }),
  },
  {
    name: 'a thrown HttpException (409)',
    method: 'GET',
    path: '/conflict',
    status: 409,
    body: (body) => expect(json(body)).toEqual({ statusCode: 409, error: 'Conflict', message: 'it already exists' }),
  },
  {
    name: 'an unexpected thrown Error (500)',
    method: 'GET',
    path: '/boom',
    status: 500,
    body: (body) => expect(json(body)).toEqual({ statusCode: 500, message: 'Internal server error' }),
  },
  {
    name: 'a guard rejecting (403)',
    method: 'GET',
    path: '/guarded',
    status: 403,
    body: (body) => expect(json(body)).toEqual({ statusCode: 403, error: 'Forbidden', message: 'Forbidden resource' }),
  },
  {
    name: 'an unknown route (404)',
    method: 'GET',
    path: '/no/such/route',
    status: 404,
    body: (body) =>
      expect(json(body)).toEqual({ statusCode: 404, error: 'Not Found', message: 'Cannot GET /no/such/route' }),
  },
  {
    name: 'a body over the limit (413)',
    method: 'POST',
    path: '/upload',
    contentType: 'application/json',
    payload: JSON.stringify({ blob: 'y'.repeat(BODY_LIMIT * 2) }),
    status: 413,
    body: (body, _id, platform) =>
      expect(json(body)).toEqual(
        platform === 'fastify'
          ? { statusCode: 413, message: 'Request body is too large' }
          : { statusCode: 413, message: 'request entity too large' },
      ),
  },
  {
    name: 'a body under the limit (2xx, control for 413)',
    method: 'POST',
    path: '/upload',
    contentType: 'application/json',
    payload: JSON.stringify({ blob: 'y'.repeat(100) }),
    status: 201,
    body: (body) => expect(json(body)).toEqual({ received: JSON.stringify({ blob: 'y'.repeat(100) }).length }),
  },
  {
    name: 'a validation failure before the handler runs (Fastify: @RouteSchema; Express: a thrown BadRequestException) (400)',
    method: 'POST',
    path: '/validated',
    contentType: 'application/json',
    payload: JSON.stringify({ nom: 'x' }),
    status: 400,
    body: (body) => expect(json(body)).toEqual({ statusCode: 400, message: VALIDATION_MESSAGE }),
  },
  {
    name: 'malformed JSON (400)',
    method: 'POST',
    path: '/upload',
    contentType: 'application/json',
    payload: '{"blob": ',
    status: 400,
    body: (body, _id, platform) =>
      expect(json(body)).toEqual(
        platform === 'fastify'
          ? { statusCode: 400, message: "Body is not valid JSON but content-type is set to 'application/json'" }
          : { statusCode: 400, error: 'Bad Request', message: 'Unexpected end of JSON input' },
      ),
  },
  {
    name: 'an @Sse() stream',
    method: 'GET',
    path: '/events',
    status: 200,
    body: (body, id) => {
      const events = body
        .split('\n')
        .filter((line) => line.startsWith('data: '))
        .map((line) => json(line.slice('data: '.length)));
      expect(events).toEqual([
        { n: 1, id },
        { n: 2, id },
        { n: 3, id },
      ]);
    },
    headers: (h) => expect(String(h['content-type'])).toMatch(/^text\/event-stream/),
    viaFetch: true,
  },
  {
    name: 'a StreamableFile',
    method: 'GET',
    path: '/file',
    status: 200,
    body: (body) => expect(body).toBe('file-bytes-0123456789'),
    headers: (h) => expect(String(h['content-type'])).toMatch(/^text\/plain/),
  },
  {
    name: "a handler's own writeHead() and end() on the raw response",
    method: 'GET',
    path: '/raw/plain',
    status: 200,
    body: (body) => expect(body).toBe('x'),
  },
  {
    name: 'a handler writing to the raw response later, from a timer',
    method: 'GET',
    path: '/raw/deferred',
    status: 200,
    body: (body) => expect(body).toBe('later'),
  },
  {
    name: 'a raw write with no writeHead (implicit head)',
    method: 'GET',
    path: '/raw/implicit',
    status: 200,
    body: (body) => expect(body).toBe('implicit'),
  },
  {
    name: 'a raw writeHead with a reason phrase and a shared headers object',
    method: 'GET',
    path: '/raw/reason',
    status: 200,
    body: (body) => expect(body).toBe('with a reason phrase'),
    headers: (h) => expect(String(h['content-type'])).toBe('text/plain'),
  },
  {
    name: 'a raw writeHead with a flat array of headers',
    method: 'GET',
    path: '/raw/array',
    status: 200,
    body: (body) => expect(body).toBe('flat array'),
    headers: (h) => expect(h['x-extra']).toBe('yes'),
  },
];

/** A valid id using every allowed character class, unique per case and transport. */
function validIdFor(caseIndex: number, transport: Transport): string {
  return `Case${caseIndex}_${transport}.v1:a/b+c=d@e-F`;
}

async function send(t: TestApp, transport: Transport, c: Case, id: string | undefined): Promise<Reply> {
  if (transport === 'inject') {
    const headers: Record<string, string> = {};
    if (id !== undefined) headers['x-request-id'] = id;
    if (c.contentType !== undefined) headers['content-type'] = c.contentType;
    const res = await t.fastify().inject({ method: c.method, url: c.path, headers, payload: c.payload });
    return { status: res.statusCode, headers: res.headers, body: res.body };
  }
  if (c.viaFetch) {
    const headers: Record<string, string> = {};
    if (id !== undefined) headers['x-request-id'] = id;
    if (c.contentType !== undefined) headers['content-type'] = c.contentType;
    const res = await fetch(`${t.url}${c.path}`, { method: c.method, headers, body: c.payload });
    const body = await res.text();
    return { status: res.status, headers: Object.fromEntries(res.headers.entries()), body };
  }
  const lines: string[] = [];
  if (id !== undefined) lines.push(`X-Request-Id: ${id}`);
  if (c.payload !== undefined) {
    lines.push(`Content-Type: ${c.contentType ?? 'application/json'}`);
    lines.push(`Content-Length: ${Buffer.byteLength(c.payload)}`);
  }
  return rawRequest(t.port, requestHead(c.method, c.path, lines), c.payload ?? '');
}

describe.each(PLATFORMS)('HTTP ingress on %s: x-request-id on every kind of response', (platform) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({
      platform,
      controllers: [IngressController, PLATFORM_ROUTES[platform]],
      providers: [DenyAllGuard],
      fastify: { bodyLimit: BODY_LIMIT },
      // The same limit on Express: the app's own JSON parser, added as a main.ts would; Nest then adds none.
      beforeInitExpress: (app) => app.use(express.json({ limit: BODY_LIMIT })),
    });
  });
  afterAll(() => t.close());

  for (const transport of ['socket', 'inject'] as const) {
    const title =
      transport === 'socket' ? 'through a real socket' : 'through app.inject (Fastify only: Express has no inject)';
    describe.runIf(transport === 'socket' || platform === 'fastify')(title, () => {
      CASES.forEach((c, index) => {
        it(`${c.name}: echoes a valid incoming id byte for byte`, async () => {
          const id = validIdFor(index, transport);
          const res = await send(t, transport, c, id);
          expect(res.status).toBe(c.status);
          expect(res.headers['x-request-id']).toBe(id);
          c.body(res.body, id, platform);
          c.headers?.(res.headers);
        });

        it(`${c.name}: generates a UUIDv4 when no id was sent`, async () => {
          const res = await send(t, transport, c, undefined);
          expect(res.status).toBe(c.status);
          const id = res.headers['x-request-id'];
          expect(typeof id).toBe('string');
          expect(id).toMatch(UUID_V4);
          c.body(res.body, id as string, platform);
          c.headers?.(res.headers);
        });
      });
    });
  }

  it('gives two requests without an id two different ids', async () => {
    const [a, b] = await Promise.all([
      rawRequest(t.port, requestHead('GET', '/ok', [])),
      rawRequest(t.port, requestHead('GET', '/ok', [])),
    ]);
    expect(a.headers['x-request-id']).toMatch(UUID_V4);
    expect(b.headers['x-request-id']).toMatch(UUID_V4);
    expect(a.headers['x-request-id']).not.toBe(b.headers['x-request-id']);
  });

  it('writes the header exactly once (no duplicate x-request-id lines)', async () => {
    // Fetch exposes a repeated header joined with ", ": one value means one header line.
    const paths = [
      '/ok',
      '/boom',
      '/guarded',
      '/nope',
      '/events',
      '/file',
      ...Object.keys(RAW_WRITES).map((kind) => `/raw/${kind}`),
    ];
    for (const path of paths) {
      const res = await fetch(`${t.url}${path}`, { headers: { 'x-request-id': 'once-only-1' } });
      await res.arrayBuffer();
      expect(res.headers.get('x-request-id'), path).toBe('once-only-1');
    }
  });

  describe('log lines', () => {
    const fields = (line: LogLine) => Object.keys(line);

    it("the platform's request lines and the handler's Nest Logger line carry requestId; no line has reqId", async () => {
      const id = 'log-check.42:req/9+z=@Q-x_y';
      const res = await rawRequest(t.port, requestHead('GET', '/ok', [`X-Request-Id: ${id}`]));
      expect(res.status).toBe(200);
      expect(res.headers['x-request-id']).toBe(id);

      await waitForLines(t.logs, (l) => l.msg === 'request completed' && l.requestId === id);
      const incoming = t.logs.lines.filter(
        (l) => l.msg === 'incoming request' && (l.req as { url?: string })?.url === '/ok',
      );
      const mine = (msg: string) => t.logs.lines.filter((l) => l.msg === msg && l.requestId === id);

      expect(mine('incoming request')).toHaveLength(1);
      expect(mine('incoming request')[0]).toMatchObject({ requestId: id, req: { method: 'GET', url: '/ok' } });
      expect(mine('request completed')).toHaveLength(1);
      expect(mine('request completed')[0]).toMatchObject({ requestId: id, res: { statusCode: 200 } });
      expect(mine('handler ran')).toHaveLength(1);
      expect(mine('handler ran')[0]).toMatchObject({ requestId: id, context: 'IngressController', level: 30 });
      // Every "incoming request" line for /ok belongs to some request; ours is among them exactly once.
      expect(incoming.filter((l) => l.requestId === id)).toHaveLength(1);

      for (const line of t.logs.lines) expect(fields(line), JSON.stringify(line)).not.toContain('reqId');
      for (const raw of t.logs.raw) expect(raw).not.toContain('"reqId"');
    });

    it("every line written for a request carries that request's id, for each kind of response", async () => {
      const paths = ['/ok', '/boom', '/conflict', '/guarded', '/no/such/route', '/events', '/file', '/raw/plain'];
      for (const [index, path] of paths.entries()) {
        const id = `per-path-${index}`;
        t.logs.clear();
        const res =
          path === '/events'
            ? await fetch(`${t.url}${path}`, { headers: { 'x-request-id': id } }).then(async (r) => {
                await r.text();
                return { status: r.status, headers: { 'x-request-id': r.headers.get('x-request-id') ?? undefined } };
              })
            : await rawRequest(t.port, requestHead('GET', path, [`X-Request-Id: ${id}`]));
        expect(res.headers['x-request-id'], path).toBe(id);
        const completed = await waitForCompletion(t.logs, id);
        expect(completed, path).toHaveLength(1);
        expect(completed[0], path).toMatchObject({ msg: 'request completed', level: 30 });
        expect(completed[0]?.res, path).toEqual({ statusCode: res.status });
        expect(
          t.logs.lines.filter((l) => l.msg === 'incoming request' && l.requestId === id),
          path,
        ).toHaveLength(1);
        // Every other line since this request began is this request's too (an earlier request's
        // completion line may still come late; it names that request).
        const others = t.logs.lines.filter(
          (l) => l.requestId !== id && !(isCompletionLine(l) && typeof l.requestId === 'string'),
        );
        expect(others, path).toEqual([]);
        for (const line of t.logs.lines) expect(fields(line), path).not.toContain('reqId');
      }
    });

    it("the 500's error line (Nest's ExceptionsHandler) carries the request's id", async () => {
      const id = 'error-line-check-1';
      t.logs.clear();
      const res = await rawRequest(t.port, requestHead('GET', '/boom', [`X-Request-Id: ${id}`]));
      expect(res.status).toBe(500);
      await waitForCompletion(t.logs, id);
      const errors = t.logs.lines.filter((l) => l.level >= 50);
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatchObject({ requestId: id, context: 'ExceptionsHandler' });
      expect(JSON.stringify(errors[0])).toContain('unexpected failure in the handler');
      // And nothing was written for the request without its id (a completion line may still come late
      // for an earlier test's request).
      expect(t.logs.lines.filter((l) => !isCompletionLine(l) && l.requestId !== id)).toEqual([]);
    });

    it('a line written outside any request carries no requestId', async () => {
      const before = t.logs.raw.length;
      new Logger('Outside').log('written outside a request');
      const line = t.logs.lines.slice(before).find((l) => l.msg === 'written outside a request');
      expect(line).toBeDefined();
      expect(line).not.toHaveProperty('requestId');
      expect(line).toMatchObject({ context: 'Outside' });
    });
  });
});
