import OpenAI from 'openai';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { mockEmbedding } from '../../../src/llm/worker/mocker/mock-embedding.js';
import { handling, startSplitPipeline } from '../../support/cluster.js';
import type { Cluster } from '../../support/cluster.js';
import { openaiClient } from '../../support/openai-clients.js';
import { describeWithNats } from '../../support/nats-server.js';
import { expectOpenAIError, projectTokenizer } from '../../support/openai-api.js';
import { MODEL, send } from '../../support/requests.js';
import { waitFor } from '../../support/wait-for.js';

/**
 * POST /v1/embeddings in distributed mode (frontend | processor,router | worker | worker): the Frontend
 * calls the Processor's `embed` over NATS, which calls a Worker's, in other processes; the vectors are
 * the mocker's for the tokens, whichever worker computed them, and refusals cross the hops as OpenAI
 * errors. Every process runs src/main.ts from the sources and talks over a real nats-server; see
 * test/support/cluster.ts. Needs `nats-server` (PATH, /usr/sbin, or NATS_SERVER_BIN): without it the
 * suite is skipped with the reason, or fails when THREADLINE_REQUIRE_NATS=1 (as in CI).
 */

describeWithNats('distributed over NATS: embeddings (frontend | processor,router | worker | worker)', () => {
  let cluster: Cluster;
  let client: OpenAI;
  const workerNames = ['worker-a', 'worker-b'];

  beforeAll(async () => {
    cluster = await startSplitPipeline(workerNames);
    client = openaiClient(cluster.url);
  }, 120_000);
  afterAll(() => cluster?.stop(), 30_000);

  /** The mocker's vector of `text`, computed here: what every worker process must give. */
  const expected = (text: string, dimensions = 256) =>
    Array.from(mockEmbedding(projectTokenizer.encode(text), dimensions));

  it('the official client gets the mocker vectors of a batch (a long text among them, tokenized in a thread), from either worker process', async () => {
    // Long enough to be tokenized in one of the Processor's threads rather than on its event loop.
    const long = 'retrieval needs vectors that do not depend on the worker. '.repeat(300);
    const input = ['short text', long, 'another short text'];
    const tokens = input.reduce((sum, text) => sum + projectTokenizer.encode(text).length, 0);
    // A queue group hands each call to a member at random: requests go on (up to 24, a chance of 2^-23
    // that one worker gets them all) until each worker process has served some.
    const servedBy = new Map(workerNames.map((name) => [name, 0]));
    const ids: string[] = [];
    while (ids.length < 24 && (ids.length < 6 || [...servedBy.values()].includes(0))) {
      const id = `dist-emb-${ids.length}`;
      ids.push(id);
      const result = await client.embeddings.create({ model: MODEL, input }, { headers: { 'X-Request-Id': id } });
      expect(result._request_id).toBe(id);
      expect(result.data.map((item) => Array.from(item.embedding))).toEqual(input.map((text) => expected(text)));
      expect(result.usage).toEqual({ prompt_tokens: tokens, total_tokens: tokens });
      // The worker logs its line when the call starts; the pipe to this process may lag a little.
      const worker = await waitFor(
        () => workerNames.find((name) => handling(cluster.get(name), id, 'worker.embed').length > 0),
        10_000,
      );
      servedBy.set(worker, servedBy.get(worker)! + 1);
    }
    expect([...servedBy.values()].every((count) => count > 0)).toBe(true);
    expect(ids.every((id) => handling(cluster.get('processor-router'), id, 'processor.embed').length === 1)).toBe(true);
    // Each call was served once, and none was routed (the Router saw none of them).
    expect(
      ids.every(
        (id) => workerNames.filter((name) => handling(cluster.get(name), id, 'worker.embed').length > 0).length === 1,
      ),
    ).toBe(true);
    expect(ids.some((id) => handling(cluster.get('processor-router'), id, 'router.route').length > 0)).toBe(false);
  });

  it('base64 and dimensions over the bus: little-endian float32 of the same values', async () => {
    const res = await send(cluster.url, '/v1/embeddings', {
      model: MODEL,
      input: 'a short vector',
      encoding_format: 'base64',
      dimensions: 48,
    });
    expect(res.status, res.text).toBe(200);
    const body = JSON.parse(res.text) as { data: Array<{ embedding: string }> };
    const bytes = Buffer.from(body.data[0]!.embedding, 'base64');
    const values = Array.from({ length: bytes.length / 4 }, (_, i) => bytes.readFloatLE(4 * i));
    expect(values).toEqual(expected('a short vector', 48));
  });

  it("refusals cross the hops as OpenAI errors: the Processor's (an unknown field) and the worker's (too many dimensions)", async () => {
    expectOpenAIError(
      await send(cluster.url, '/v1/embeddings', { model: MODEL, input: 'x', temperature: 0 }, { id: 'dist-emb-bad-1' }),
      400,
      { param: 'temperature' },
    );
    const worker = expectOpenAIError(
      await send(
        cluster.url,
        '/v1/embeddings',
        { model: MODEL, input: 'x', dimensions: 5000 },
        { id: 'dist-emb-bad-2' },
      ),
      400,
      { param: 'dimensions' },
    );
    expect(worker.message).toContain('3072');
    expectOpenAIError(await send(cluster.url, '/v1/embeddings', { model: 'nope', input: 'x' }), 404, {
      code: 'model_not_found',
    });
  });
});
