import { afterAll, beforeAll, expect, it } from 'vitest';
import { generationEnd, startSplitPipeline, within } from '../../support/cluster.js';
import type { Cluster } from '../../support/cluster.js';
import { longSeed } from '../../support/mocker-text.js';
import { describeWithNats } from '../../support/nats-server.js';
import { COMPLETIONS, completionBody } from '../../support/requests.js';
import { errorEvents, openStream } from '../../support/sse.js';
import { waitFor } from '../../support/wait-for.js';

/**
 * Distributed mode, the Frontend's process stopped mid-stream (frontend | processor,router | worker):
 * SIGTERM, twice, with a grace shorter than the stream. Real processes over a real nats-server; see
 * test/support/cluster.ts.
 */

describeWithNats('distributed over NATS: the Frontend process stopped mid-stream', () => {
  let cluster: Cluster;
  const prompt = 'a story long enough to stop the frontend in the middle of';
  const { seed } = longSeed(prompt, 150);

  beforeAll(async () => {
    // 20 ms a token: 150 tokens or more last 3 s, well past the Frontend's grace of 500 ms.
    cluster = await startSplitPipeline(['worker'], {
      common: { MOCKER_DECODE_MS_PER_TOKEN: '20', THREADLINE_SHUTDOWN_GRACE_MS: '500' },
    });
  }, 120_000);
  afterAll(() => cluster?.stop(), 30_000);

  it('the stream ends with a 503 shutting_down error event (not a client that left), its generation stops, the process exits 0', async () => {
    const id = 'frontend-stop-1';
    const reader = await openStream(
      cluster.url,
      COMPLETIONS,
      completionBody(prompt, { max_tokens: 1000, stream: true, seed }),
      id,
      30_000,
    );
    await reader.until((r) => r.dataCount >= 3, 10_000, '3 data events');
    const frontend = cluster.get('frontend');
    frontend.signal('SIGTERM');
    // A second signal (an impatient operator, a supervisor that repeats itself) changes nothing.
    setTimeout(() => frontend.signal('SIGTERM'), 100);
    const text = await reader.toEnd(15_000);
    expect(errorEvents(text).map((event) => event.error.code)).toEqual(['shutting_down']);
    expect(await within(frontend.exited, 15_000, 'the frontend to exit')).toEqual({ code: 0, signal: null });
    const stopped = await waitFor(() => generationEnd(cluster.get('worker'), id), 10_000);
    expect(String(stopped.msg)).toMatch(/^generation stopped after \d+ of \d+ tokens/);
    expect(frontend.logs.lines.some((line) => line.msg === 'SIGTERM while stopping: the stop under way goes on')).toBe(
      true,
    );
  }, 60_000);
});
