import { describe, expect, it } from 'vitest';
import { failing, withFakeUpstream } from '../../support/fake-upstream.js';
import { CHAT, pathOf, send } from '../../support/requests.js';
import { errorOf, refusalLines, storyBody, withEngine } from '../../support/upstream-engine.js';
import { waitFor } from '../../support/wait-for.js';

/**
 * An upstream (a stand-in) at capacity (429) or unavailable (502, 503, 504): B refuses the request
 * before any SSE byte, with Retry-After, and one warn line.
 */

describe('an upstream that fails', () => {
  it.each([
    { api: 'chat' as const, stream: true, id: 'up429-stream-chat' },
    { api: 'completion' as const, stream: true, id: 'up429-stream-cmpl' },
    { api: 'chat' as const, stream: false, id: 'up429-chat' },
  ])(
    'upstream 429 with Retry-After: 7 ($api, stream $stream): our 429 rate_limit_exceeded with Retry-After: 7, before any SSE byte, one warn line',
    async ({ api, stream, id }) => {
      await withFakeUpstream(failing(429, 'too many requests', { 'retry-after': '7' }), async (fake) => {
        await withEngine({ UPSTREAM_URL: fake.url }, async (b) => {
          const reply = await send(b.url, pathOf(api), storyBody(api, 38, stream ? { stream: true } : {}), { id });
          expect(reply.status).toBe(429);
          expect(reply.requestId).toBe(id);
          expect(reply.retryAfter).toBe('7');
          const message = `The upstream model server is at capacity (429): too many requests (request id ${id})`;
          expect(errorOf(reply)).toEqual({
            error: { message, type: 'requests', param: null, code: 'rate_limit_exceeded' },
          });
          const logged = await waitFor(() => {
            const lines = refusalLines(b, id);
            return lines.warn.length > 0 ? lines : undefined;
          }, 10_000);
          expect(logged).toEqual({ warn: [`request refused: ${message}`], error: [] });
        });
        expect(fake.received.map((r) => r.headers['x-request-id'])).toEqual([id]);
      });
    },
  );

  it('upstream 429 without Retry-After (stream): our 429 with the configured Retry-After', async () => {
    await withFakeUpstream(failing(429, 'too many requests'), async (fake) => {
      await withEngine({ UPSTREAM_URL: fake.url, THREADLINE_RETRY_AFTER_SECONDS: '3' }, async (b) => {
        const reply = await send(b.url, CHAT, storyBody('chat', 39, { stream: true }), { id: 'up429-noretry' });
        expect(reply.status).toBe(429);
        expect(reply.retryAfter).toBe('3');
        expect(errorOf(reply).error.code).toBe('rate_limit_exceeded');
      });
    });
  });

  it.each([
    { status: 503, api: 'chat' as const, stream: true, id: 'up503-stream-chat' },
    { status: 503, api: 'completion' as const, stream: true, id: 'up503-stream-cmpl' },
    { status: 503, api: 'chat' as const, stream: false, id: 'up503-chat' },
    { status: 503, api: 'completion' as const, stream: false, id: 'up503-cmpl' },
    { status: 502, api: 'chat' as const, stream: true, id: 'up502-stream-chat' },
    { status: 504, api: 'chat' as const, stream: true, id: 'up504-stream-chat' },
  ])(
    'upstream $status ($api, stream $stream): our 503 upstream_unavailable with Retry-After, before any SSE byte, one warn line',
    async ({ status, api, stream, id }) => {
      await withFakeUpstream(failing(status, 'the GPU is busy'), async (fake) => {
        await withEngine({ UPSTREAM_URL: fake.url }, async (b) => {
          const reply = await send(
            b.url,
            pathOf(api),
            storyBody(api, 40, stream ? { stream: true, max_tokens: 7 } : { max_tokens: 7 }),
            { id },
          );
          expect(reply.status).toBe(503);
          expect(reply.requestId).toBe(id);
          expect(reply.retryAfter).toBe('1');
          const message = `The upstream model server is unavailable (${status}): the GPU is busy (request id ${id})`;
          expect(errorOf(reply)).toEqual({
            error: { message, type: 'server_error', param: null, code: 'upstream_unavailable' },
          });
          const logged = await waitFor(() => {
            const lines = refusalLines(b, id);
            return lines.warn.length > 0 ? lines : undefined;
          }, 10_000);
          expect(logged).toEqual({ warn: [`request refused: ${message}`], error: [] });
        });
        // The one request the upstream saw: streaming, no retry.
        expect(fake.received).toHaveLength(1);
        expect(fake.received[0]!.headers['x-request-id']).toBe(id);
        expect((fake.received[0]!.body as { stream: boolean }).stream).toBe(true);
      });
    },
  );

  it('upstream 503 with Retry-After: 12 (stream): our 503 passes it on', async () => {
    await withFakeUpstream(failing(503, 'warming up', { 'retry-after': '12' }), async (fake) => {
      await withEngine({ UPSTREAM_URL: fake.url }, async (b) => {
        const reply = await send(b.url, CHAT, storyBody('chat', 41, { stream: true }), { id: 'up503-retry' });
        expect(reply.status).toBe(503);
        expect(reply.retryAfter).toBe('12');
        expect(errorOf(reply).error.code).toBe('upstream_unavailable');
      });
    });
  });
});
