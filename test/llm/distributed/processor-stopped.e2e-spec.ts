import { afterAll, beforeAll, expect, it } from 'vitest';
import { handling, NO_HANG_MS, startSplitPipeline, within } from '../../support/cluster.js';
import type { Cluster } from '../../support/cluster.js';
import { longSeed } from '../../support/mocker-text.js';
import { describeWithNats } from '../../support/nats-server.js';
import { COMPLETIONS, completionBody, request } from '../../support/requests.js';
import { errorEvents, SseReader } from '../../support/sse.js';
import type { ErrorEvent } from '../../support/sse.js';
import { waitFor } from '../../support/wait-for.js';

/**
 * Distributed mode, the Processor stopped by SIGTERM while requests run through it (frontend |
 * processor,router | worker): the calls still running at the end of its shutdown grace are stopped, and
 * their clients, still connected, hear that the instance shut down (a 503 to retry), not that they left.
 */
describeWithNats('distributed over NATS: the Processor stopped while requests run through it', () => {
  let cluster: Cluster;
  const prompt = 'a story long enough to outlast the shutdown grace';
  const { seed } = longSeed(prompt, 120);

  beforeAll(async () => {
    // 20 ms a token: 120 tokens or more last 2.4 s, far beyond the Processor's 300 ms grace.
    cluster = await startSplitPipeline(['worker'], {
      processor: { THREADLINE_SHUTDOWN_GRACE_MS: '300' },
      common: { MOCKER_DECODE_MS_PER_TOKEN: '20' },
    });
  }, 120_000);
  afterAll(() => cluster?.stop(), 30_000);

  it('a call past the grace fails with 503 instance_shutting_down naming the request, streamed or not', async () => {
    const streamId = 'processor-term-stream';
    const unaryId = 'processor-term-unary';
    const body = (stream: boolean) => completionBody(prompt, { max_tokens: 1000, stream, seed });
    const streamed = await request(cluster.url, COMPLETIONS, body(true), {
      id: streamId,
      signal: AbortSignal.timeout(30_000),
    });
    expect(streamed.status).toBe(200);
    const unary = request(cluster.url, COMPLETIONS, body(false), { id: unaryId, signal: AbortSignal.timeout(30_000) });
    unary.catch(() => undefined); // awaited below: this only keeps an early failure from counting as unhandled
    const reader = new SseReader(streamed);
    await reader.until((r) => r.dataCount >= 3, 10_000, '3 data events');
    const worker = cluster.get('worker');
    await waitFor(() => (handling(worker, unaryId, 'worker.generate').length > 0 ? true : undefined), 10_000);

    const processor = cluster.get('processor-router');
    processor.signal('SIGTERM');

    const errors = errorEvents(await reader.toEnd(NO_HANG_MS));
    expect(errors).toHaveLength(1);
    expect(errors[0]!.error).toMatchObject({ code: 'instance_shutting_down', type: 'server_error' });
    expect(errors[0]!.error.message).toContain(streamId);

    const answer = await within(unary, NO_HANG_MS, 'the non-streamed answer');
    const text = await answer.text();
    expect(answer.status, text).toBe(503);
    expect(answer.headers.get('retry-after')).not.toBeNull();
    const { error } = JSON.parse(text) as ErrorEvent;
    expect(error).toMatchObject({ code: 'instance_shutting_down' });
    expect(error.message).toContain(unaryId);

    expect(await within(processor.exited, NO_HANG_MS, 'the Processor exiting after SIGTERM')).toEqual({
      code: 0,
      signal: null,
    });
  }, 60_000);
});
