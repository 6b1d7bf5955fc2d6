import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { waitForLines } from '../support/log-capture.js';
import { startPipeline } from '../support/pipeline-app.js';
import type { PipelineApp } from '../support/pipeline-app.js';
import { rawExchange, UUID_V4 } from '../support/raw-http.js';

/**
 * What Node's HTTP server refuses before the service sees a request (bad HTTP, too large, too slow,
 * an unmet `Expect`) is answered like any other refusal of the service: an OpenAI error body, the id
 * in `x-request-id`, `Connection: close`, and one warn line with that id.
 */

const REFUSED = 'request refused by the HTTP server';
const HOST = 'Host: 127.0.0.1\r\n';
const CHAT_HEAD = `POST /v1/chat/completions HTTP/1.1\r\n${HOST}Content-Type: application/json\r\n`;

const CASES = [
  {
    name: 'a bad request line',
    bytes: `G@T /v1/models HTTP/1.1\r\n${HOST}\r\n`,
    status: 400,
    code: 'bad_request',
    reason: 'HPE_INVALID_METHOD',
  },
  {
    name: 'Content-Length and Transfer-Encoding together',
    bytes: `${CHAT_HEAD}Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n`,
    status: 400,
    code: 'bad_request',
    reason: 'HPE_INVALID_TRANSFER_ENCODING',
  },
  {
    name: 'a NUL in a header value',
    bytes: `GET /health HTTP/1.1\r\n${HOST}X-Note: a\0b\r\n\r\n`,
    status: 400,
    code: 'bad_request',
    reason: 'HPE_INVALID_HEADER_TOKEN',
  },
  {
    name: 'a bad chunk',
    bytes: `${CHAT_HEAD}Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n`,
    status: 400,
    code: 'bad_request',
    reason: 'HPE_INVALID_CHUNK_SIZE',
  },
  {
    name: 'a URL over the header size limit',
    bytes: `GET /${'u'.repeat(20_000)} HTTP/1.1\r\n${HOST}\r\n`,
    status: 414,
    code: 'uri_too_long',
    reason: 'HPE_HEADER_OVERFLOW',
  },
  {
    name: 'header fields over the size limit',
    bytes: `GET /health HTTP/1.1\r\n${HOST}X-Big: ${'h'.repeat(20_000)}\r\n\r\n`,
    status: 431,
    code: 'request_header_fields_too_large',
    reason: 'HPE_HEADER_OVERFLOW',
  },
  {
    name: 'an Expect other than 100-continue',
    bytes: `GET /health HTTP/1.1\r\n${HOST}Expect: something-else\r\nConnection: close\r\n\r\n`,
    status: 417,
    code: 'expectation_failed',
    reason: 'EXPECTATION_FAILED',
  },
  {
    name: 'a body that does not arrive in time',
    bytes: `${CHAT_HEAD}Content-Length: 100\r\n\r\n{"model":`,
    status: 408,
    code: 'request_timeout',
    reason: 'ERR_HTTP_REQUEST_TIMEOUT',
  },
] as const;

describe('requests Node refuses get OpenAI error bodies with an id from the service', () => {
  let pipeline: PipelineApp;
  let port: number;
  beforeAll(async () => {
    pipeline = await startPipeline({ REQUEST_BODY_TIMEOUT_MS: '500' });
    port = Number(new URL(pipeline.url).port);
  });
  afterAll(() => pipeline.close());
  beforeEach(() => pipeline.logs.clear());

  it("a path Fastify's router refuses (a malformed percent-encoding, a model id over the length allowed): the OpenAI body, the id kept, one warn line", async () => {
    const refusals = [
      ['/v1/models/%ZZ', 400, 'bad_request', 'FST_ERR_BAD_URL'],
      [`/v1/models/${'m'.repeat(400)}`, 414, 'uri_too_long', 'FST_ERR_MAX_PARAM_LENGTH'],
    ] as const;
    for (const [path, status, code, reason] of refusals) {
      const id = `router-refused-${status}`;
      const res = await fetch(`${pipeline.url}${path}`, { headers: { 'x-request-id': id } });
      expect(res.status).toBe(status);
      expect(res.headers.get('x-request-id')).toBe(id);
      expect(await res.json()).toEqual({
        error: { message: expect.any(String) as unknown, type: 'invalid_request_error', param: null, code },
      });
      const [line] = await waitForLines(pipeline.logs, (l) => l.msg === REFUSED && l.requestId === id);
      expect(line).toMatchObject({ level: 40, reason, status });
    }
  });

  for (const c of CASES) {
    it(`${c.name}: ${c.status}, an OpenAI body with code ${c.code}, a UUIDv4 id and one warn line`, async () => {
      const res = await rawExchange(port, Buffer.from(c.bytes, 'latin1'));
      expect(res.status).toBe(c.status);
      const id = res.headers['x-request-id'];
      expect(id).toMatch(UUID_V4);
      expect(res.headers.connection).toBe('close');
      expect(JSON.parse(res.body)).toEqual({
        error: { message: expect.any(String) as unknown, type: 'invalid_request_error', param: null, code: c.code },
      });

      const [line] = await waitForLines(pipeline.logs, (l) => l.msg === REFUSED && l.requestId === id);
      expect(line).toMatchObject({
        level: 40,
        reason: c.reason,
        status: c.status,
        remoteAddress: expect.stringMatching(/127\.0\.0\.1$/) as unknown,
      });
      expect(pipeline.logs.lines.filter((l) => l.msg === REFUSED)).toHaveLength(1);
      expect(
        pipeline.logs.lines.filter((l) => l.level >= 50),
        'no error line for a refusal',
      ).toEqual([]);
    });
  }
});
