import { describe, expect, it } from 'vitest';
import { withFakeUpstream } from '../../support/fake-upstream.js';
import { freePort } from '../../support/nats-server.js';
import { CHAT, pathOf, send } from '../../support/requests.js';
import { errorOf, storyBody, withEngine } from '../../support/upstream-engine.js';

/**
 * An upstream that is not there, or does not answer in time: 503 / 504 naming the URL and the id.
 */

describe('an upstream that fails', () => {
  it.each([
    { api: 'chat' as const, stream: false, id: 'unreach-chat' },
    { api: 'completion' as const, stream: false, id: 'unreach-cmpl' },
    { api: 'chat' as const, stream: true, id: 'unreach-stream-chat' },
  ])(
    'an unreachable upstream ($api, stream $stream): 503 upstream_unreachable with Retry-After, naming the URL and the id',
    async ({ api, stream, id }) => {
      const url = `http://127.0.0.1:${await freePort()}/v1`;
      await withEngine({ UPSTREAM_URL: url }, async (b) => {
        const reply = await send(b.url, pathOf(api), storyBody(api, 33, stream ? { stream: true } : {}), { id });
        expect(reply.status).toBe(503);
        expect(reply.requestId).toBe(id);
        expect(reply.retryAfter).toBe('1');
        expect(errorOf(reply)).toEqual({
          error: {
            message: `The upstream model server is unreachable: Connection error. (request id ${id})`,
            type: 'server_error',
            param: null,
            code: 'upstream_unreachable',
          },
        });
      });
    },
  );

  it('an upstream that does not answer within UPSTREAM_TIMEOUT_MS: 504 upstream_timeout naming the URL and the id', async () => {
    await withFakeUpstream(
      () => undefined,
      async (fake) => {
        await withEngine({ UPSTREAM_URL: fake.url, UPSTREAM_TIMEOUT_MS: '300' }, async (b) => {
          const reply = await send(b.url, CHAT, storyBody('chat', 34), { id: 'slow-1' });
          expect(reply.status).toBe(504);
          expect(reply.requestId).toBe('slow-1');
          expect(errorOf(reply)).toEqual({
            error: {
              message: `The upstream model server did not answer in time. (request id slow-1)`,
              type: 'server_error',
              param: null,
              code: 'upstream_timeout',
            },
          });
        });
        expect(fake.received.map((r) => r.headers['x-request-id'])).toEqual(['slow-1']);
      },
    );
  });
});
