import { afterAll, beforeAll, expect, it } from 'vitest';
import { forRequest, generationEnd, handling, NO_HANG_MS, startSplitPipeline, within } from '../../support/cluster.js';
import type { Cluster } from '../../support/cluster.js';
import { expectUndisturbedStream, longSeed, undisturbed } from '../../support/mocker-text.js';
import { describeWithNats } from '../../support/nats-server.js';
import { COMPLETIONS, completionBody } from '../../support/requests.js';
import { openStream } from '../../support/sse.js';
import { waitFor } from '../../support/wait-for.js';

/**
 * Distributed mode, request migration when a worker's drain outlasts its shutdown grace (frontend |
 * processor,router | worker-a | worker-b, round-robin, a grace of 1 s): SIGTERM to a worker serving
 * streams of 3 s and more. At the end of the grace its calls stop with `instance_shutting_down`, and
 * each of its streams goes on on the other worker: the client sees no error, the undisturbed answer
 * and every token counted once.
 */

const GRACE_MS = 1000;
const STREAMS = 6;

describeWithNats('distributed over NATS: request migration when a drain outlasts the shutdown grace', () => {
  let cluster: Cluster;
  const workerNames = ['worker-a', 'worker-b'];

  beforeAll(async () => {
    cluster = await startSplitPipeline(workerNames, {
      worker: { THREADLINE_SHUTDOWN_GRACE_MS: String(GRACE_MS) },
      // 30 ms a token: an answer of 100 tokens or more streams for 3 s or more, well past the grace.
      common: { MOCKER_DECODE_MS_PER_TOKEN: '30', THREADLINE_ROUTER: 'round-robin' },
    });
  }, 120_000);
  afterAll(() => cluster?.stop(), 30_000);

  it('SIGTERM to a worker with streams longer than its grace: they stop at the grace and finish on the other worker', async () => {
    const streams = await Promise.all(
      Array.from({ length: STREAMS }, async (_, i) => {
        const id = `drain-move-${i}`;
        const prompt = `a story longer than a shutdown grace, number ${i}`;
        const { seed } = longSeed(prompt, 100);
        const body = completionBody(prompt, {
          max_tokens: 1000,
          stream: true,
          seed,
          stream_options: { include_usage: true },
        });
        const reader = await openStream(cluster.url, COMPLETIONS, body, id, 30_000);
        return { id, expected: undisturbed(prompt, seed), reader };
      }),
    );
    await Promise.all(streams.map(({ reader }) => reader.until((r) => r.dataCount >= 3, 10_000, '3 data events')));
    const victim = cluster.get('worker-a');
    const survivor = cluster.get('worker-b');
    const onVictim = streams.filter(({ id }) => handling(victim, id, 'worker.generate').length > 0).map(({ id }) => id);
    expect(onVictim.length, 'streams on the worker to stop').toBeGreaterThan(0);
    expect(onVictim.length, 'streams on the other worker').toBeLessThan(STREAMS);

    const sigterm = Date.now();
    victim.signal('SIGTERM');
    // At the end of the grace, not before: the worker stops what still runs and says so.
    const stopping = await victim.waitForLine(
      (line) => String(line.msg).endsWith('still running at the end of the shutdown grace period'),
      GRACE_MS + 5000,
    );
    expect(Date.now() - sigterm).toBeGreaterThanOrEqual(GRACE_MS - 100);
    expect(stopping.msg).toBe(
      `stopping ${onVictim.length} call(s) still running at the end of the shutdown grace period`,
    );

    const processor = cluster.get('processor-router');
    for (const { id, expected, reader } of streams) {
      expectUndisturbedStream(await reader.toEnd(20_000), id, expected);

      const moves = forRequest(processor, id).filter((line) => String(line.msg).startsWith('request migrated from '));
      if (!onVictim.includes(id)) {
        expect(moves, id).toEqual([]);
        continue;
      }
      // Stopped by the drain on the victim (its engine saw the call cancelled), carried on by the survivor.
      expect(moves, id).toHaveLength(1);
      expect(moves[0]).toMatchObject({
        from: victim.instanceIds[0],
        to: survivor.instanceIds[0],
        reason: 'instance_shutting_down',
      });
      const carried = moves[0]!.tokensCarried as number;
      expect(carried, id).toBeGreaterThanOrEqual(3);
      expect(carried, id).toBeLessThan(expected.tokens);
      expect(generationEnd(victim, id)?.msg, id).toMatch(/^generation stopped after \d+ of \d+ tokens/);
      await waitFor(
        () =>
          forRequest(survivor, id).some(
            (line) => line.msg === `continuing a migrated generation after ${carried} tokens`,
          ) || undefined,
        5000,
      );
    }

    expect(await within(victim.exited, NO_HANG_MS, `${victim.name} exiting after SIGTERM`)).toEqual({
      code: 0,
      signal: null,
    });

    // The timeline of a moved request counts what its client got, though the first worker's spans left
    // with its process: the Frontend's own counts, not a sum of what the workers it reached saw.
    const { data: listed } = (await (await fetch(`${cluster.url}/debug/requests?limit=${STREAMS}`)).json()) as {
      data: Array<{ id: string; status: number; prompt_tokens: number; completion_tokens: number }>;
    };
    for (const { id, expected } of streams.filter(({ id }) => onVictim.includes(id))) {
      const timeline = (await (await fetch(`${cluster.url}/debug/requests/${id}`)).json()) as Record<string, unknown>;
      const counts = { prompt_tokens: expected.promptTokens, completion_tokens: expected.tokens };
      expect(timeline, id).toMatchObject(counts);
      expect(
        listed.find((line) => line.id === id),
        id,
      ).toMatchObject({ ...counts, status: 200 });
    }
  }, 60_000);
});
