import { describe, expect, it } from 'vitest';
import { clientErrorMessage, clientErrorStatus, defaultClientErrorBody } from './client-error.js';
import type { HttpClientError } from './client-error.js';

/** An error as Node's parser reports a header overflow: the packet it was reading, and where it stopped. */
function overflow(packet: string, stoppedAt = packet.length): HttpClientError {
  return Object.assign(new Error('Parse Error: Header overflow'), {
    code: 'HPE_HEADER_OVERFLOW',
    rawPacket: Buffer.from(packet, 'latin1'),
    bytesParsed: stoppedAt,
  });
}

describe('the status of a client error', () => {
  it("is Node's own for a timeout (408), oversized chunk extensions (413) and any other parse error (400)", () => {
    expect(clientErrorStatus({ name: 'Error', message: '', code: 'ERR_HTTP_REQUEST_TIMEOUT' })).toBe(408);
    expect(clientErrorStatus({ name: 'Error', message: '', code: 'HPE_CHUNK_EXTENSIONS_OVERFLOW' })).toBe(413);
    expect(clientErrorStatus({ name: 'Error', message: '', code: 'HPE_INVALID_METHOD' })).toBe(400);
    expect(clientErrorStatus({ name: 'Error', message: '' })).toBe(400);
  });

  it('is 414 when the size limit was crossed inside the request line', () => {
    expect(clientErrorStatus(overflow(`GET /${'u'.repeat(200)}`))).toBe(414);
  });

  it('is 414 for a long URL after a complete request on the same connection', () => {
    expect(clientErrorStatus(overflow(`GET / HTTP/1.1\r\nHost: a\r\n\r\nPOST /${'u'.repeat(200)}`))).toBe(414);
  });

  it('is 431 when it was crossed in the header fields', () => {
    expect(clientErrorStatus(overflow(`GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${'h'.repeat(200)}`))).toBe(431);
  });

  it('is 431 when the packet at hand starts in the middle of a line', () => {
    expect(clientErrorStatus(overflow('h'.repeat(200)))).toBe(431);
  });

  it('is 431 when the parser stopped at the very start of the packet', () => {
    expect(clientErrorStatus(overflow('X-Big: hhhh', 0))).toBe(431);
  });
});

describe('the default body of a client error', () => {
  it("is Nest's { statusCode, error, message }, whose message names the parser's reason and never the request", () => {
    const message = clientErrorMessage(400, 'HPE_INVALID_METHOD');
    expect(defaultClientErrorBody({ status: 400, reason: 'HPE_INVALID_METHOD', message, requestId: 'r-1' })).toEqual({
      statusCode: 400,
      error: 'Bad Request',
      message: 'The request is not valid HTTP/1.1 (HPE_INVALID_METHOD).',
    });
  });
});
