import type { FastifyRequest } from 'fastify';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { readBodyChunks } from './request-body-chunks.js';
import type { BodyChunks } from './request-body-chunks.js';

function read(
  headers: Record<string, string>,
  send: (payload: PassThrough & { receivedEncodedLength?: number }) => void,
  limit = 100,
): Promise<{ error: (Error & { statusCode?: number; code?: string }) | null; body?: BodyChunks }> {
  const payload = new PassThrough();
  const result = new Promise<{ error: Error | null; body?: BodyChunks }>((resolve) =>
    readBodyChunks({ headers } as unknown as FastifyRequest, payload, limit, (error, body) => resolve({ error, body })),
  );
  send(payload);
  return result;
}

describe('readBodyChunks', () => {
  it('hands over the chunks as they came, not joined', async () => {
    const parts = [Buffer.from('{"a":'), Buffer.from('1}')];
    const { error, body } = await read({ 'content-length': '7' }, (payload) => {
      for (const part of parts) payload.write(part);
      payload.end();
    });
    expect(error).toBeNull();
    expect(body!.length).toBe(7);
    expect(body!.chunks).toHaveLength(2);
    expect(body!.chunks[0]).toBe(parts[0]);
  });

  it('refuses a declared length over the limit at once, with a 413', async () => {
    const { error } = await read({ 'content-length': '101' }, () => undefined);
    expect(error).toMatchObject({ code: 'FST_ERR_CTP_BODY_TOO_LARGE', statusCode: 413 });
  });

  it('refuses a body of no declared length once it outgrows the limit', async () => {
    const { error } = await read({ 'transfer-encoding': 'chunked' }, (payload) => {
      payload.write(Buffer.alloc(60));
      payload.write(Buffer.alloc(60));
    });
    expect(error).toMatchObject({ code: 'FST_ERR_CTP_BODY_TOO_LARGE', statusCode: 413 });
  });

  it('refuses a body of another length than declared with a 400', async () => {
    const { error } = await read({ 'content-length': '10' }, (payload) => payload.end(Buffer.from('{}')));
    expect(error).toMatchObject({ code: 'FST_ERR_CTP_INVALID_CONTENT_LENGTH', statusCode: 400 });
  });

  it('counts what a preParsing hook says came when it changed the bytes', async () => {
    const { error, body } = await read({ 'content-length': '50' }, (payload) => {
      payload.receivedEncodedLength = 50;
      payload.end(Buffer.from('{"decoded":true}'));
    });
    expect(error).toBeNull();
    expect(Buffer.concat(body!.chunks).toString()).toBe('{"decoded":true}');
  });

  it('fails with a 400 when the stream fails', async () => {
    const { error } = await read({ 'content-length': '10' }, (payload) => payload.destroy(new Error('aborted')));
    expect(error).toMatchObject({ message: 'aborted', statusCode: 400 });
  });
});
