import { describe, expect, it } from 'vitest';
import { failing, withFakeUpstream } from '../../support/fake-upstream.js';
import { CHAT, MODEL, pathOf, send } from '../../support/requests.js';
import type { ErrorBody } from '../../support/requests.js';
import { serviceEvents } from '../../support/sse.js';
import { errorOf, failingMidStream, storyBody, withEngine } from '../../support/upstream-engine.js';
import type { Body } from '../../support/upstream-engine.js';

/**
 * An upstream (a stand-in) that fails with a 500, or with an error event in the middle of its stream:
 * B answers with an OpenAI error naming the upstream and the request id.
 */

describe('an upstream that fails', () => {
  it.each([500, 429])(
    'an upstream that names the request id in its message, as another Threadline does (%i): the id is named once',
    async (status) => {
      const id = `chained-id-${status}`;
      await withFakeUpstream(
        (req, res, body) => {
          const said = `The server had an error while processing your request. (request id ${String(req.headers['x-request-id'])})`;
          failing(status, said)(req, res, body);
        },
        async (fake) => {
          await withEngine({ UPSTREAM_URL: fake.url }, async (b) => {
            const reply = await send(b.url, CHAT, storyBody('chat', 31), { id });
            const what = status === 500 ? 'failed (500)' : 'is at capacity (429)';
            expect(errorOf(reply).error.message).toBe(
              `The upstream model server ${what}: The server had an error while processing your request. (request id ${id})`,
            );
          });
        },
      );
    },
  );

  it.each([
    { status: 500, api: 'chat' as const, id: 'up500-chat' },
    { status: 500, api: 'completion' as const, id: 'up500-cmpl' },
  ])(
    'upstream $status ($api): B answers 502 upstream_error naming the upstream and the id',
    async ({ status, api, id }) => {
      await withFakeUpstream(failing(status, 'the GPU caught fire'), async (fake) => {
        await withEngine({ UPSTREAM_URL: fake.url }, async (b) => {
          const reply = await send(b.url, pathOf(api), storyBody(api, 30, { max_tokens: 7 }), { id });
          expect(reply.status).toBe(502);
          expect(reply.requestId).toBe(id);
          expect(errorOf(reply)).toEqual({
            error: {
              message: `The upstream model server failed (${status}): the GPU caught fire (request id ${id})`,
              type: 'server_error',
              param: null,
              code: 'upstream_error',
            },
          });
          // B logged the failure with the id.
          const failed = b.logs.forRequest(id).filter((line) => line.level === 50);
          expect(failed.map((line) => line.msg)).toContain(
            `request failed: The upstream model server failed (${status}): the GPU caught fire (request id ${id})`,
          );
        });
        // The one request the upstream saw: the id passed on, streaming, no retry.
        expect(fake.received).toHaveLength(1);
        const [sent] = fake.received;
        expect(sent!.method).toBe('POST');
        expect(sent!.url).toBe(pathOf(api));
        expect(sent!.headers['x-request-id']).toBe(id);
        // No UPSTREAM_API_KEY: no Authorization header.
        expect(sent!.headers.authorization).toBeUndefined();
        const original =
          api === 'chat'
            ? { messages: storyBody('chat', 30).messages }
            : { prompt: storyBody('completion', 30).prompt };
        expect(sent!.body).toEqual({
          model: MODEL,
          max_tokens: 7,
          seed: 70,
          stream: true,
          stream_options: { include_usage: true },
          ...original,
        });
      });
    },
  );

  it.each([
    { api: 'chat' as const, id: 'up500-stream-chat' },
    { api: 'completion' as const, id: 'up500-stream-cmpl' },
  ])(
    'upstream 500 on a stream ($api): 502 upstream_error before any SSE byte, logged as a fault',
    async ({ api, id }) => {
      await withFakeUpstream(failing(500, 'the GPU caught fire'), async (fake) => {
        await withEngine({ UPSTREAM_URL: fake.url }, async (b) => {
          const reply = await send(b.url, pathOf(api), storyBody(api, 31, { stream: true }), { id });
          expect(reply.status).toBe(502);
          expect(reply.requestId).toBe(id);
          expect(reply.retryAfter).toBeNull();
          expect(errorOf(reply)).toEqual({
            error: {
              message: `The upstream model server failed (500): the GPU caught fire (request id ${id})`,
              type: 'server_error',
              param: null,
              code: 'upstream_error',
            },
          });
        });
        expect(fake.received.map((r) => r.headers['x-request-id'])).toEqual([id]);
      });
    },
  );

  it.each([
    { api: 'chat' as const, id: 'midstream-chat' },
    { api: 'completion' as const, id: 'midstream-cmpl' },
  ])(
    'an error event in the upstream stream ($api, non-streamed to the client): 502 upstream_error with the upstream reason',
    async ({ api, id }) => {
      await withFakeUpstream(failingMidStream, async (fake) => {
        await withEngine({ UPSTREAM_URL: fake.url }, async (b) => {
          const reply = await send(b.url, pathOf(api), storyBody(api, 35), { id });
          expect(reply.requestId).toBe(id);
          const body = errorOf(reply);
          expect({
            status: reply.status,
            type: body.error.type,
            param: body.error.param,
            code: body.error.code,
          }).toEqual({
            status: 502,
            type: 'server_error',
            param: null,
            code: 'upstream_error',
          });
          expect(body.error.message.startsWith(`The upstream model server failed (mid-stream): `)).toBe(true);
          expect(body.error.message).toContain('The worker is overloaded; retry later.');
          expect(body.error.message.endsWith(`(request id ${id})`)).toBe(true);
        });
      });
    },
  );

  it('an error event in the upstream stream (streamed to the client): the text so far, then an upstream_error event', async () => {
    await withFakeUpstream(failingMidStream, async (fake) => {
      await withEngine({ UPSTREAM_URL: fake.url }, async (b) => {
        const id = 'midstream-stream';
        const reply = await send(b.url, CHAT, storyBody('chat', 36, { stream: true }), { id });
        expect(reply.status).toBe(200);
        const data = serviceEvents(reply.text).map((event) => JSON.parse(event) as Body & Partial<ErrorBody>);
        expect(data).toHaveLength(3);
        expect(data[1]!.choices[0]!.delta).toEqual({ content: ' Hello' });
        const { error } = data[2]!;
        expect({ type: error!.type, param: error!.param, code: error!.code }).toEqual({
          type: 'server_error',
          param: null,
          code: 'upstream_error',
        });
        expect(error!.message.startsWith(`The upstream model server failed (mid-stream): `)).toBe(true);
        expect(error!.message).toContain('The worker is overloaded; retry later.');
        expect(error!.message.endsWith(`(request id ${id})`)).toBe(true);
      });
    });
  });
});
