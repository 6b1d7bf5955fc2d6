import { createServer } from 'node:http';
import type { Server, ServerResponse } from 'node:http';
import { connect } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { SseResponse } from './sse-response.js';

/** A real server whose one response the test drives, and a raw client socket that reads only when told. */
async function serveOne(): Promise<{ server: Server; response: ServerResponse; client: Socket }> {
  let respond!: (response: ServerResponse) => void;
  const responded = new Promise<ServerResponse>((resolve) => (respond = resolve));
  const server = createServer((_request, response) => respond(response));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const client = connect((server.address() as AddressInfo).port, '127.0.0.1');
  client.write('GET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  client.pause();
  return { server, response: await responded, client };
}

describe('SseResponse', () => {
  let server: Server | undefined;
  afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

  it('says when the socket is full, resumes once the client reads, and ends the response', async () => {
    const one = await serveOne();
    server = one.server;
    const out = new SseResponse(one.response);
    out.open({ 'x-request-id': 'sse-1' });
    const chunk = `data: ${'x'.repeat(16 * 1024)}\n\n`;
    let written = 0;
    while (out.write(chunk)) written++;
    expect(written).toBeLessThan(10_000); // the socket filled up
    const drained = out.drained();
    let received = '';
    one.client.on('data', (data: Buffer) => (received += data.toString('latin1')));
    one.client.resume();
    await drained;
    expect(out.closed).toBe(false);
    out.end('data: [DONE]\n\n');
    expect(out.closed).toBe(true);
    await new Promise((resolve) => one.client.once('end', resolve));
    expect(received).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(received).toContain('x-request-id: sse-1\r\n');
    expect(received).toContain('content-type: text/event-stream; charset=utf-8\r\n');
    expect(received).toContain('data: [DONE]');
  });

  it('sends the events written in one turn as one chunk, and the next turn in another', async () => {
    const one = await serveOne();
    server = one.server;
    const out = new SseResponse(one.response);
    out.open({});
    let received = '';
    one.client.on('data', (data: Buffer) => (received += data.toString('latin1')));
    one.client.resume();
    for (const text of ['a', 'b', 'c']) expect(out.write(`data: ${text}\n\n`)).toBe(true);
    await new Promise((resolve) => setImmediate(resolve));
    out.write('data: d\n\n');
    out.end('data: [DONE]\n\n');
    await new Promise((resolve) => one.client.once('end', resolve));
    const body = received.slice(received.indexOf('\r\n\r\n') + 4);
    // Chunked encoding: each chunk is its size in hex, CRLF, the bytes, CRLF.
    expect(body).toBe(
      '1b\r\ndata: a\n\ndata: b\n\ndata: c\n\n\r\n' + '17\r\ndata: d\n\ndata: [DONE]\n\n\r\n' + '0\r\n\r\n',
    );
  });

  it('wakes a writer waiting on a full socket when the client goes away, and writes nothing after', async () => {
    const one = await serveOne();
    server = one.server;
    const out = new SseResponse(one.response);
    out.open({});
    while (out.write(`data: ${'y'.repeat(16 * 1024)}\n\n`));
    const drained = out.drained();
    one.client.destroy();
    await drained; // woken (Node flushes the dead socket's buffer, then closes it), not left waiting
    if (!out.closed) await new Promise((resolve) => one.response.once('close', resolve));
    expect(out.closed).toBe(true);
    const write = vi.spyOn(one.response, 'write');
    const end = vi.spyOn(one.response, 'end');
    expect(out.write('data: late\n\n')).toBe(true); // dropped: nobody is there, and nothing waits
    await expect(out.drained()).resolves.toBeUndefined();
    out.end('data: [DONE]\n\n');
    // Neither the late event nor the end reached the response.
    expect(write).not.toHaveBeenCalled();
    expect(end).not.toHaveBeenCalled();
  });
});
