import { decode } from 'gpt-tokenizer/encoding/o200k_base';
import OpenAI from 'openai';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { nats, startCluster, warmUp } from '../../support/cluster.js';
import type { Cluster } from '../../support/cluster.js';
import { openaiClient } from '../../support/openai-clients.js';
import { mockerTokens } from '../../support/mocker-text.js';
import { describeWithNats } from '../../support/nats-server.js';
import { projectTokenizer } from '../../support/openai-api.js';
import { MODEL } from '../../support/requests.js';

/**
 * POST /v1/responses in distributed mode (frontend | processor,router,worker): the Frontend sends the
 * translated chat request over NATS and renders the events that come back, streamed and not. Needs
 * `nats-server` (PATH, /usr/sbin, or NATS_SERVER_BIN): without it the suite is skipped with the reason,
 * or fails when THREADLINE_REQUIRE_NATS=1 (as in CI).
 */

describeWithNats('distributed over NATS: the Responses API (frontend | processor,router,worker)', () => {
  let cluster: Cluster;
  let client: OpenAI;

  beforeAll(async () => {
    const server = await nats();
    cluster = await startCluster(server, [
      { name: 'frontend', components: 'frontend' },
      { name: 'pipeline', components: 'processor,router,worker', env: { THREADLINE_WORKERS: '1' } },
    ]);
    await warmUp(cluster, ['pipeline']);
    client = openaiClient(cluster.url);
  }, 120_000);
  afterAll(() => cluster?.stop(), 30_000);

  it('the official client gets the mocker text, whole and streamed, with the id it sent', async () => {
    const input = 'Tell me about the harbour.';
    const answer = decode(mockerTokens(projectTokenizer.encodeChat([{ role: 'user', content: input }]), 0));
    const whole = await client.responses.create(
      { model: MODEL, input },
      { headers: { 'X-Request-Id': 'nats-resp-1' } },
    );
    expect(whole.id).toBe('resp_nats-resp-1');
    expect(whole.output_text).toBe(answer);
    const stream = await client.responses.create(
      { model: MODEL, input, stream: true },
      { headers: { 'X-Request-Id': 'nats-resp-2' } },
    );
    let text = '';
    let last: OpenAI.Responses.ResponseStreamEvent | undefined;
    for await (const event of stream) {
      if (event.type === 'response.output_text.delta') text += event.delta;
      last = event;
    }
    expect(text).toBe(answer);
    expect(last).toMatchObject({
      type: 'response.completed',
      response: { id: 'resp_nats-resp-2', usage: whole.usage },
    });
  });
});
