import { Body, Controller, Get, Post } from '@nestjs/common';
import type { INestApplication } from '@nestjs/common';
import type { Server } from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { waitForLines } from '../support/log-capture.js';
import { rawExchange, rawRequest, requestHead, UUID_V4 } from '../support/raw-http.js';
import type { RawResponse } from '../support/raw-http.js';
import { PLATFORMS, startTestApp } from '../support/test-app.js';
import type { TestApp } from '../support/test-app.js';

/**
 * The answers Node's HTTP server writes without the application (its parser's 400, 408, 413, 414 and
 * 431, and the 417 for an unmet `Expect`) carry an id, a JSON body and `Connection: close`, and each
 * writes one log line with that id, the reason, the status and the remote address, never the bytes.
 */

@Controller()
class EchoController {
  @Get('echo')
  echo() {
    return { ok: true };
  }

  @Post('echo')
  echoBody(@Body() body: unknown) {
    return { body };
  }

  @Get('items/:id')
  item() {
    return { ok: true };
  }
}

const REFUSED = 'request refused by the HTTP server';
const ARRIVAL_TIMEOUT_MS = 400;

/** Node's request timeouts for a test: the whole request within `ARRIVAL_TIMEOUT_MS`, checked often. */
function shortArrivalTimeout(app: INestApplication): void {
  const server = app.getHttpServer() as Server & { connectionsCheckingInterval: number };
  server.requestTimeout = ARRIVAL_TIMEOUT_MS;
  server.headersTimeout = ARRIVAL_TIMEOUT_MS;
  server.connectionsCheckingInterval = 50;
}

const HOST = 'Host: 127.0.0.1\r\n';

interface ParserCase {
  name: string;
  /** The request's bytes, sent in one write, then the connection is left open until the server closes it. */
  bytes: string;
  status: number;
  reason: string;
  /** Text of the request that must appear in no response and no log line. */
  marker: string;
  /** The id sent with the request, where the request reached the app (its id is kept). */
  ownId?: string;
}

const CASES: ParserCase[] = [
  {
    name: 'a bad request line (invalid method)',
    bytes: `G@T /Zq41method HTTP/1.1\r\n${HOST}\r\n`,
    status: 400,
    reason: 'HPE_INVALID_METHOD',
    marker: 'Zq41method',
  },
  {
    name: 'an invalid HTTP version',
    bytes: `GET /Zq42version HTTP/7.3\r\n${HOST}\r\n`,
    status: 400,
    reason: 'HPE_INVALID_VERSION',
    marker: 'Zq42version',
  },
  {
    name: 'Content-Length and Transfer-Encoding together',
    bytes: `POST /echo HTTP/1.1\r\n${HOST}Content-Length: 3\r\nTransfer-Encoding: chunked\r\nX-Zq43: Zq43both\r\n\r\n3\r\nabc\r\n0\r\n\r\n`,
    status: 400,
    reason: 'HPE_INVALID_TRANSFER_ENCODING',
    marker: 'Zq43both',
  },
  {
    name: 'a CR inside a header value',
    bytes: `GET /echo HTTP/1.1\r\n${HOST}X-Zq44: Zq44cr\rSplit\r\n\r\n`,
    status: 400,
    reason: 'HPE_LF_EXPECTED',
    marker: 'Zq44cr',
  },
  {
    name: 'a NUL inside a header value',
    bytes: `GET /echo HTTP/1.1\r\n${HOST}X-Zq45: Zq45nul\0Byte\r\n\r\n`,
    status: 400,
    reason: 'HPE_INVALID_HEADER_TOKEN',
    marker: 'Zq45nul',
  },
  {
    name: 'a space inside a header name',
    bytes: `GET /echo HTTP/1.1\r\n${HOST}X Zq46: Zq46name\r\n\r\n`,
    status: 400,
    reason: 'HPE_INVALID_HEADER_TOKEN',
    marker: 'Zq46name',
  },
  {
    name: 'a bad chunk size in a body the app is already reading',
    bytes: `POST /echo HTTP/1.1\r\n${HOST}X-Request-Id: own-id-bad-chunk\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nZq47chunk\r\n0\r\n\r\n`,
    status: 400,
    reason: 'HPE_INVALID_CHUNK_SIZE',
    marker: 'Zq47chunk',
    ownId: 'own-id-bad-chunk',
  },
  {
    name: 'chunk extensions over 16 KiB',
    bytes: `POST /echo HTTP/1.1\r\n${HOST}X-Request-Id: own-id-extensions\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n2;Zq48ext=${'e'.repeat(17_000)}\r\n{}\r\n0\r\n\r\n`,
    status: 413,
    reason: 'HPE_CHUNK_EXTENSIONS_OVERFLOW',
    marker: 'Zq48ext',
    ownId: 'own-id-extensions',
  },
  {
    name: 'a URL over the header size limit',
    bytes: `GET /Zq49url${'u'.repeat(20_000)} HTTP/1.1\r\n${HOST}\r\n`,
    status: 414,
    reason: 'HPE_HEADER_OVERFLOW',
    marker: 'Zq49url',
  },
  {
    name: 'header fields over the size limit',
    bytes: `GET /echo HTTP/1.1\r\n${HOST}X-Zq50: Zq50big${'h'.repeat(20_000)}\r\n\r\n`,
    status: 431,
    reason: 'HPE_HEADER_OVERFLOW',
    marker: 'Zq50big',
  },
  {
    name: 'an Expect other than 100-continue',
    bytes: `GET /echo HTTP/1.1\r\n${HOST}Expect: Zq51expect\r\nConnection: close\r\n\r\n`,
    status: 417,
    reason: 'EXPECTATION_FAILED',
    marker: 'Zq51expect',
  },
  {
    name: 'an Expect other than 100-continue, with a valid id',
    bytes: `GET /echo HTTP/1.1\r\n${HOST}X-Request-Id: own-id-expect\r\nExpect: Zq52expect\r\nConnection: close\r\n\r\n`,
    status: 417,
    reason: 'EXPECTATION_FAILED',
    marker: 'Zq52expect',
    ownId: 'own-id-expect',
  },
  {
    name: 'a body that does not arrive in time',
    bytes: `POST /echo HTTP/1.1\r\n${HOST}X-Request-Id: own-id-slow-body\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"Zq53slow":`,
    status: 408,
    reason: 'ERR_HTTP_REQUEST_TIMEOUT',
    marker: 'Zq53slow',
    ownId: 'own-id-slow-body',
  },
  {
    name: 'headers that do not arrive in time',
    bytes: `GET /echo HTTP/1.1\r\n${HOST}X-Zq54: Zq54slow`,
    status: 408,
    reason: 'ERR_HTTP_REQUEST_TIMEOUT',
    marker: 'Zq54slow',
  },
];

function exchange(port: number, bytes: string): Promise<RawResponse> {
  return rawExchange(port, Buffer.from(bytes, 'latin1'));
}

describe.each(PLATFORMS)('client errors answered with an id on %s', (platform) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ platform, controllers: [EchoController], beforeListen: shortArrivalTimeout });
  });
  afterAll(() => t.close());
  beforeEach(() => t.logs.clear());

  for (const c of CASES) {
    it(`${c.name}: ${c.status} with ${c.ownId ? "the request's own id" : 'a generated UUIDv4'}, a JSON body, Connection: close and one warn line`, async () => {
      const res = await exchange(t.port, c.bytes);
      expect(res.status).toBe(c.status);
      const id = res.headers['x-request-id'];
      if (c.ownId === undefined) expect(id).toMatch(UUID_V4);
      else expect(id).toBe(c.ownId);
      expect(res.headers.connection).toBe('close');
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      expect(JSON.parse(res.body)).toEqual({
        statusCode: c.status,
        error: expect.any(String) as unknown,
        message: expect.any(String) as unknown,
      });

      const [line] = await waitForLines(t.logs, (l) => l.msg === REFUSED && l.requestId === id);
      expect(line).toMatchObject({
        level: 40,
        requestId: id,
        reason: c.reason,
        status: c.status,
        remoteAddress: expect.stringMatching(/127\.0\.0\.1$/) as unknown,
      });
      expect(t.logs.lines.filter((l) => l.msg === REFUSED)).toHaveLength(1);
      expect(res.body).not.toContain(c.marker);
      expect(t.logs.contains(c.marker), 'a log line quotes the request').toBe(false);
    });
  }

  it("bytes that are not HTTP after a complete request get an id of their own, not that request's", async () => {
    const first = `GET /echo HTTP/1.1\r\n${HOST}X-Request-Id: first-of-two\r\n\r\n`;
    const res = await exchange(t.port, `${first}NOT HTTP AT ALL\r\n\r\n`);
    // Node answers the bad bytes at once, before the first request's handler has answered.
    expect(res.status).toBe(400);
    expect(res.headers['x-request-id']).toMatch(UUID_V4);
    const [line] = await waitForLines(t.logs, (l) => l.msg === REFUSED);
    expect(line).toMatchObject({ requestId: res.headers['x-request-id'], reason: 'HPE_INVALID_METHOD', status: 400 });
  });

  it('the server keeps serving after every kind of client error', async () => {
    for (const c of CASES.filter((x) => x.status !== 408)) await exchange(t.port, c.bytes);
    const res = await rawRequest(t.port, requestHead('GET', '/echo', ['X-Request-Id: still-serving-1']));
    expect(res.status).toBe(200);
    expect(res.headers['x-request-id']).toBe('still-serving-1');
  });

  it('a new client is served while slow requests wait for their 408', async () => {
    const slow = Array.from({ length: 10 }, () =>
      exchange(t.port, CASES.find((c) => c.status === 408 && c.ownId)!.bytes),
    );
    const fresh = await rawRequest(t.port, requestHead('GET', '/echo', ['X-Request-Id: served-meanwhile']));
    expect(fresh.status).toBe(200);
    const answers = await Promise.all(slow);
    expect(answers.map((answer) => answer.status)).toEqual(Array(10).fill(408));
  });
});

describe("requests Fastify's router refuses before any hook carry an id too", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ platform: 'fastify', controllers: [EchoController] });
  });
  afterAll(() => t.close());
  beforeEach(() => t.logs.clear());

  const ROUTER_CASES = [
    {
      name: 'a malformed percent-encoding in the path',
      path: '/items/Zq61%ZZ',
      status: 400,
      reason: 'FST_ERR_BAD_URL',
    },
    {
      name: 'a path parameter over maxParamLength',
      path: `/items/Zq62${'a'.repeat(200)}`,
      status: 414,
      reason: 'FST_ERR_MAX_PARAM_LENGTH',
    },
  ];
  for (const c of ROUTER_CASES) {
    for (const sent of ['router-refused-1', 'bad id!']) {
      it(`${c.name}, id ${JSON.stringify(sent)}: ${c.status}, the id ${sent.includes(' ') ? 'replaced' : 'kept'}, the JSON body, one warn line`, async () => {
        const res = await rawRequest(t.port, requestHead('GET', c.path, [`X-Request-Id: ${sent}`]));
        expect(res.status).toBe(c.status);
        const id = res.headers['x-request-id'];
        if (sent.includes(' ')) expect(id).toMatch(UUID_V4);
        else expect(id).toBe(sent);
        expect(res.headers['content-type']).toMatch(/^application\/json/);
        expect(JSON.parse(res.body)).toEqual({
          statusCode: c.status,
          error: expect.any(String) as unknown,
          message: expect.any(String) as unknown,
        });
        expect(res.body).not.toContain('Zq6');
        const [line] = await waitForLines(t.logs, (l) => l.msg === REFUSED && l.requestId === id);
        expect(line).toMatchObject({ level: 40, reason: c.reason, status: c.status });
      });
    }
  }
});

describe("an app that answers client errors itself keeps its answer (Fastify's clientErrorHandler)", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({
      controllers: [EchoController],
      fastify: {
        clientErrorHandler: (_error, socket) => {
          socket.end('HTTP/1.1 400 Bad Request\r\nX-Answered-By: app\r\nConnection: close\r\n\r\n');
        },
      },
    });
  });
  afterAll(() => t.close());

  it("a bad request line is answered by the app's handler, with no line from the module", async () => {
    const res = await exchange(t.port, CASES[0]!.bytes);
    expect(res.status).toBe(400);
    expect(res.headers['x-answered-by']).toBe('app');
    expect(t.logs.lines.filter((l) => l.msg === REFUSED)).toEqual([]);
  });
});
