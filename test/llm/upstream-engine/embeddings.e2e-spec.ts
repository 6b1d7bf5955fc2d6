import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { embeddingsRoute, failing, fakeEmbedding, withFakeUpstream } from '../../support/fake-upstream.js';
import { startPipeline } from '../../support/pipeline-app.js';
import { MODEL, send } from '../../support/requests.js';
import { errorOf, withEngine } from '../../support/upstream-engine.js';

/**
 * POST /v1/embeddings with the `openai` engine: B passes the request to its upstream's `/v1/embeddings`
 * (a stand-in, or another Threadline) with the request id, and answers with the upstream's vectors and
 * usage; the upstream's failures are mapped as generation maps them.
 */

const EMBEDDINGS = '/v1/embeddings';

interface EmbeddingsBody {
  data: Array<{ object: string; index: number; embedding: number[] | string }>;
  model: string;
  usage: { prompt_tokens: number; total_tokens: number };
}

function parsed(reply: { status: number; text: string }): EmbeddingsBody {
  expect(reply.status, reply.text).toBe(200);
  return JSON.parse(reply.text) as EmbeddingsBody;
}

function fromBase64(base64: string): number[] {
  const bytes = Buffer.from(base64, 'base64');
  return Array.from({ length: bytes.length / 4 }, (_, i) => bytes.readFloatLE(4 * i));
}

describe('the openai engine passes embeddings through to its upstream', () => {
  it('texts, dimensions and user go to the upstream as sent (base64 asked for), with the request id; its vectors and usage come back', async () => {
    await withFakeUpstream(embeddingsRoute({ tokensPerInput: 11 }), async (fake) => {
      await withEngine({ UPSTREAM_URL: fake.url }, async (b) => {
        const body = { model: MODEL, input: ['first', 'second'], dimensions: 4, user: 'user-7' };
        const reply = await send(b.url, EMBEDDINGS, body, { id: 'emb-up-1' });
        const answer = parsed(reply);
        expect(answer.model).toBe(MODEL);
        expect(answer.data).toEqual([
          { object: 'embedding', index: 0, embedding: fakeEmbedding(0) },
          { object: 'embedding', index: 1, embedding: fakeEmbedding(1) },
        ]);
        // The upstream's count: its tokenizer is the model's.
        expect(answer.usage).toEqual({ prompt_tokens: 22, total_tokens: 22 });
        // The official client (base64 on the wire, decoded by it) gets the same numbers.
        const client = new OpenAI({ baseURL: `${b.url}/v1`, apiKey: 'test', maxRetries: 0 });
        const viaClient = await client.embeddings.create({ model: MODEL, input: 'one' });
        expect(Array.from(viaClient.data[0]!.embedding)).toEqual(fakeEmbedding(0));
      });
      expect(fake.received[0]).toMatchObject({ method: 'POST', url: '/v1/embeddings' });
      expect(fake.received[0]!.headers['x-request-id']).toBe('emb-up-1');
      expect(fake.received[0]!.body).toEqual({
        model: MODEL,
        input: ['first', 'second'],
        encoding_format: 'base64',
        dimensions: 4,
        user: 'user-7',
      });
    });
  });

  it('token ids go as token ids; an upstream that sends numbers though base64 was asked for is served too', async () => {
    await withFakeUpstream(embeddingsRoute({ numbersOnly: true }), async (fake) => {
      await withEngine({ UPSTREAM_URL: fake.url }, async (b) => {
        const ids = [[9906, 1917], [15339]];
        const floats = parsed(await send(b.url, EMBEDDINGS, { model: MODEL, input: ids }));
        expect(floats.data.map((item) => item.embedding)).toEqual([fakeEmbedding(0), fakeEmbedding(1)]);
        const base64 = parsed(await send(b.url, EMBEDDINGS, { model: MODEL, input: ids, encoding_format: 'base64' }));
        expect(base64.data.map((item) => fromBase64(item.embedding as string))).toEqual([
          fakeEmbedding(0),
          fakeEmbedding(1),
        ]);
      });
      expect(fake.received.map((received) => (received.body as { input: unknown }).input)).toEqual([
        [[9906, 1917], [15339]],
        [[9906, 1917], [15339]],
      ]);
    });
  });

  it('a request B refuses never reaches the upstream', async () => {
    await withFakeUpstream(embeddingsRoute(), async (fake) => {
      await withEngine({ UPSTREAM_URL: fake.url }, async (b) => {
        const reply = await send(b.url, EMBEDDINGS, { model: MODEL, input: 'x', top_k: 3 });
        expect(reply.status).toBe(400);
        expect(errorOf(reply).error.param).toBe('top_k');
      });
      expect(fake.received).toEqual([]);
    });
  });

  it.each([
    { upstream: 500, status: 502, code: 'upstream_error', retryAfter: null },
    { upstream: 503, status: 503, code: 'upstream_unavailable', retryAfter: '1' },
    { upstream: 429, status: 429, code: 'rate_limit_exceeded', retryAfter: '7' },
    { upstream: 400, status: 400, code: 'upstream_rejected', retryAfter: null },
  ])(
    'an upstream $upstream is a $status ($code), as for generation',
    async ({ upstream, status, code, retryAfter }) => {
      const headers: Record<string, string> = upstream === 429 ? { 'retry-after': '7' } : {};
      await withFakeUpstream(failing(upstream, 'no vectors today', headers), async (fake) => {
        await withEngine({ UPSTREAM_URL: fake.url }, async (b) => {
          const id = `emb-up-fail-${upstream}`;
          const reply = await send(b.url, EMBEDDINGS, { model: MODEL, input: 'x' }, { id });
          expect(reply.status).toBe(status);
          expect(reply.requestId).toBe(id);
          expect(reply.retryAfter).toBe(retryAfter);
          const { error } = errorOf(reply);
          expect(error.code).toBe(code);
          expect(error.message).toContain('no vectors today');
        });
        // No retry.
        expect(fake.received).toHaveLength(1);
      });
    },
  );

  it('Threadline in front of Threadline: B gives the vectors and usage A gives, float and base64', async () => {
    const a = await startPipeline();
    try {
      await withEngine({ UPSTREAM_URL: `${a.url}/v1` }, async (b) => {
        for (const encoding_format of ['float', 'base64']) {
          const body = { model: MODEL, input: ['chained embeddings', 'second input'], encoding_format, dimensions: 32 };
          const direct = parsed(await send(a.url, EMBEDDINGS, body));
          const through = parsed(await send(b.url, EMBEDDINGS, body));
          expect(through).toEqual(direct);
        }
      });
    } finally {
      await a.close();
    }
  });
});
