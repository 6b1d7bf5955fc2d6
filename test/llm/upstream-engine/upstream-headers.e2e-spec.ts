import { describe, expect, it } from 'vitest';
import { failing, withFakeUpstream } from '../../support/fake-upstream.js';
import { CHAT, send } from '../../support/requests.js';
import { storyBody, withEngine } from '../../support/upstream-engine.js';

/**
 * What B sends to the upstream (a stand-in) besides the request id: its API key, the W3C traceparent.
 */

describe('an upstream that fails', () => {
  it('UPSTREAM_API_KEY is sent to the upstream as a bearer token', async () => {
    await withFakeUpstream(failing(500, 'nope'), async (fake) => {
      await withEngine({ UPSTREAM_URL: fake.url, UPSTREAM_API_KEY: 'sk-upstream-test' }, async (b) => {
        expect((await send(b.url, CHAT, storyBody('chat', 32), { id: 'key-1' })).status).toBe(502);
      });
      expect(fake.received.map((r) => r.headers.authorization)).toEqual(['Bearer sk-upstream-test']);
    });
  });

  it("passes a valid W3C traceparent's trace on to the upstream (the calling span as parent), and never an invalid one", async () => {
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    await withFakeUpstream(failing(500, 'nope'), async (fake) => {
      await withEngine({ UPSTREAM_URL: fake.url }, async (b) => {
        for (const [id, sent] of [
          ['tp-valid', traceparent],
          ['tp-invalid', '00-zz-not-a-trace-context-01'],
        ] as const) {
          await send(b.url, CHAT, storyBody('chat', 37), { id, headers: { traceparent: sent } });
        }
      });
      expect(fake.received.map((r) => [r.headers['x-request-id'], r.headers.traceparent])).toEqual([
        ['tp-valid', expect.stringMatching(/^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/) as unknown],
        ['tp-invalid', expect.not.stringMatching(/4bf92f3577b34da6a3ce929d0e0e4736/) as unknown],
      ]);
    });
  });
});
