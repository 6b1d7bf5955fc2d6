import { afterEach, describe, expect, it, vi } from 'vitest';
import { failing, withFakeUpstream } from '../../support/fake-upstream.js';
import { CHAT, MODEL, send } from '../../support/requests.js';
import { storyBody, withEngine } from '../../support/upstream-engine.js';

/**
 * What B sends to the upstream (a stand-in) besides the request id: its API key, the W3C traceparent and
 * tracestate.
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

  it('without UPSTREAM_API_KEY (unset or empty) no Authorization header is sent, to generate, embed or look up the models', async () => {
    const lookups: Array<string | undefined> = [];
    const answer = failing(500, 'nope');
    await withFakeUpstream(
      (req, res, body) => {
        if (req.url === '/v1/models') lookups.push(req.headers.authorization);
        answer(req, res, body);
      },
      async (fake) => {
        for (const env of [{}, { UPSTREAM_API_KEY: '' }]) {
          await withEngine({ UPSTREAM_URL: fake.url, ...env }, async (b) => {
            expect((await send(b.url, CHAT, storyBody('chat', 32), { id: 'nokey-1' })).status).toBe(502);
            const embed = { model: MODEL, input: 'hello' };
            expect((await send(b.url, '/v1/embeddings', embed, { id: 'nokey-2' })).status).toBe(502);
          });
        }
        expect(fake.received).toHaveLength(4);
        expect(fake.received.map((r) => r.headers.authorization)).toEqual([undefined, undefined, undefined, undefined]);
        expect(lookups.length).toBeGreaterThan(0);
        expect(lookups.every((header) => header === undefined)).toBe(true);
      },
    );
  });

  describe("with the OpenAI SDK's own variables set in the environment", () => {
    afterEach(() => vi.unstubAllEnvs());

    it('sends none of them: an organization, project or admin key meant for OpenAI reaches no other server', async () => {
      vi.stubEnv('OPENAI_ORG_ID', 'org-leak');
      vi.stubEnv('OPENAI_PROJECT_ID', 'proj-leak');
      vi.stubEnv('OPENAI_ADMIN_KEY', 'sk-admin-leak');
      vi.stubEnv('OPENAI_API_KEY', 'sk-openai-leak');
      vi.stubEnv('OPENAI_CUSTOM_HEADERS', 'X-Gateway-Key: gw-leak\nOpenAI-Beta: assistants=v2-leak');
      // At debug the SDK would write each request, its body (the prompt) with it, on the console.
      vi.stubEnv('OPENAI_LOG', 'debug');
      const sdkDebug = vi.spyOn(console, 'debug').mockImplementation(() => undefined);
      await withFakeUpstream(failing(500, 'nope'), async (fake) => {
        // An empty key is no key, as an env file's `UPSTREAM_API_KEY=` means, not a start-up failure.
        // The service reads its configuration from the environment the SDK reads too.
        const { OPENAI_CUSTOM_HEADERS } = process.env;
        await withEngine({ UPSTREAM_URL: fake.url, UPSTREAM_API_KEY: '', OPENAI_CUSTOM_HEADERS }, async (b) => {
          expect((await send(b.url, CHAT, storyBody('chat', 32), { id: 'env-1' })).status).toBe(502);
        });
        expect(fake.received).toHaveLength(1);
        const headers = fake.received[0]!.headers;
        expect(JSON.stringify(headers)).not.toMatch(/leak/);
        expect(sdkDebug).not.toHaveBeenCalled();
        sdkDebug.mockRestore();
        expect(headers['openai-organization']).toBeUndefined();
        expect(headers['openai-project']).toBeUndefined();
      });
    });
  });

  it("passes the caller's tracestate on as it came, beside a valid traceparent only", async () => {
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const tracestate = 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7';
    await withFakeUpstream(failing(500, 'nope'), async (fake) => {
      await withEngine({ UPSTREAM_URL: fake.url }, async (b) => {
        for (const [id, headers] of [
          ['ts-valid', { traceparent, tracestate }],
          ['ts-no-traceparent', { tracestate }],
          ['ts-invalid', { traceparent, tracestate: 'Congo=upper-case-key' }],
        ] as const) {
          await send(b.url, CHAT, storyBody('chat', 38), { id, headers });
        }
      });
      expect(fake.received.map((r) => [r.headers['x-request-id'], r.headers.tracestate])).toEqual([
        ['ts-valid', tracestate],
        ['ts-no-traceparent', undefined],
        ['ts-invalid', undefined],
      ]);
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
