import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  forRequest,
  generationEnd,
  handling,
  NO_HANG_MS,
  sleep,
  startSplitPipeline,
  within,
} from '../../support/cluster.js';
import type { Cluster } from '../../support/cluster.js';
import { longSeed } from '../../support/mocker-text.js';
import { describeWithNats } from '../../support/nats-server.js';
import { CHAT, COMPLETIONS, chatBody, completionBody, request } from '../../support/requests.js';
import { errorEvents, openStream, SseReader, sseJson } from '../../support/sse.js';
import type { ErrorEvent } from '../../support/sse.js';
import { waitFor } from '../../support/wait-for.js';

/**
 * Distributed mode, a worker process stopped mid-stream (frontend | processor,router | worker | worker):
 * SIGTERM drains one worker, then SIGKILL on the other is reported to the clients.
 * Every process runs src/main.ts from the sources (LOG_LEVEL=debug) and talks over a real nats-server
 * (THREADLINE_TRANSPORT=nats); see test/support/cluster.ts. Needs `nats-server` (PATH, /usr/sbin, or
 * NATS_SERVER_BIN): without it the suite is skipped with the reason, or fails when THREADLINE_REQUIRE_NATS=1 (as in CI).
 */

describeWithNats(
  'distributed over NATS: a worker process stopped mid-stream (frontend | processor,router | worker | worker)',
  () => {
    let cluster: Cluster;
    const workerNames = ['worker-a', 'worker-b'];
    const prompt = 'a story long enough to stop in the middle of';
    const { seed, length } = longSeed(prompt, 120);

    beforeAll(async () => {
      // 20 ms a token: a generation of 120+ tokens lasts 2.4 s or more.
      cluster = await startSplitPipeline(workerNames, {
        worker: { THREADLINE_SHUTDOWN_GRACE_MS: '10000' },
        common: { MOCKER_DECODE_MS_PER_TOKEN: '20' },
      });
    }, 120_000);
    afterAll(() => cluster?.stop(), 30_000);

    const workers = () => workerNames.map((name) => cluster.get(name));

    /** The worker process that runs the request's generation, once it does. */
    const servingWorker = (id: string) =>
      waitFor(() => workers().find((worker) => handling(worker, id, 'worker.generate').length > 0), 10_000);

    it('SIGTERM: the in-flight stream completes, new requests go to the other worker, the process exits 0', async () => {
      const id = 'drain-1';
      const body = completionBody(prompt, { max_tokens: 1000, stream: true, seed });
      const reader = await openStream(cluster.url, COMPLETIONS, body, id, 30_000);
      await reader.until((r) => r.dataCount >= 3, 10_000, '3 data events');
      const victim = await servingWorker(id);
      const other = workers().find((worker) => worker !== victim)!;

      victim.signal('SIGTERM');
      // The victim says when it drains (it has then told its peers); the router hears that over NATS.
      await victim.waitForLine((line) => String(line.msg).startsWith('draining '), 10_000);
      await sleep(200);
      for (let i = 0; i < 4; i++) {
        const newId = `after-sigterm-${i}`;
        const next = await request(cluster.url, CHAT, chatBody(`new work ${i}`, { max_tokens: 4 }), {
          id: newId,
          signal: AbortSignal.timeout(NO_HANG_MS),
        });
        expect(next.status, await next.text()).toBe(200);
        await waitFor(() => ((generationEnd(other, newId) ?? generationEnd(victim, newId)) ? true : undefined), 5000);
        expect(handling(other, newId, 'worker.generate'), `${newId} served by ${other.name}`).toHaveLength(1);
        expect(forRequest(victim, newId), `${newId} reached the draining ${victim.name}`).toEqual([]);
      }

      const text = await reader.toEnd(20_000);
      expect(errorEvents(text)).toEqual([]);
      expect(text.trim().endsWith('data: [DONE]'), text.slice(-500)).toBe(true);
      const finishes = sseJson(text).flatMap((event) =>
        typeof event === 'object' ? (event as { choices: Array<{ finish_reason: string | null }> }).choices : [],
      );
      expect(finishes.filter((choice) => choice.finish_reason !== null).map((choice) => choice.finish_reason)).toEqual([
        'stop',
      ]);

      const exit = await within(victim.exited, NO_HANG_MS, `${victim.name} exiting after SIGTERM`);
      expect(exit).toEqual({ code: 0, signal: null });
      expect(generationEnd(victim, id)?.msg).toBe(`generation finished: ${length} tokens`);
    }, 60_000);

    it('SIGKILL: the client gets an error naming the id (stream: an error event; non-stream: a 5xx), never a hang', async () => {
      // One worker process left, so both requests run on it (if the previous test failed early, stop the other).
      const running = workers().filter((worker) => worker.running);
      expect(running.length).toBeGreaterThan(0);
      for (const extra of running.slice(1)) await extra.stop(500);
      const target = running[0]!;

      const streamId = 'killed-stream-1';
      const unaryId = 'killed-unary-1';
      const streamed = await request(
        cluster.url,
        COMPLETIONS,
        completionBody(prompt, { max_tokens: 1000, stream: true, seed }),
        { id: streamId, signal: AbortSignal.timeout(30_000) },
      );
      expect(streamed.status).toBe(200);
      const unary = request(cluster.url, COMPLETIONS, completionBody(prompt, { max_tokens: 1000, seed }), {
        id: unaryId,
        signal: AbortSignal.timeout(30_000),
      });
      unary.catch(() => undefined); // awaited below: this only keeps an early failure from counting as unhandled
      const reader = new SseReader(streamed);
      await reader.until((r) => r.dataCount >= 3, 10_000, '3 data events');
      await waitFor(
        () =>
          handling(target, unaryId, 'worker.generate').length > 0 &&
          handling(target, streamId, 'worker.generate').length > 0
            ? true
            : undefined,
        10_000,
      );

      target.signal('SIGKILL');
      const text = await reader.toEnd(NO_HANG_MS);
      const errors = errorEvents(text);
      expect(errors, text.slice(-500)).toHaveLength(1);
      expect(errors[0]!.error.message).toContain(streamId);
      expect(text.includes('data: [DONE]')).toBe(false);

      const answer = await within(unary, NO_HANG_MS, 'the non-streamed answer');
      const body = await within(answer.text(), NO_HANG_MS, 'the non-streamed body');
      expect(answer.status, body).toBeGreaterThanOrEqual(500);
      expect(answer.headers.get('x-request-id')).toBe(unaryId);
      expect((JSON.parse(body) as ErrorEvent).error.message).toContain(unaryId);

      expect(await within(target.exited, 5000, 'the killed worker exiting')).toEqual({ code: null, signal: 'SIGKILL' });
    }, 60_000);
  },
);
