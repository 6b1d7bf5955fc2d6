import { afterAll, beforeAll, expect, it } from 'vitest';
import { generationEnd, handling, NO_HANG_MS, sleep, startSplitPipeline } from '../../support/cluster.js';
import type { Cluster } from '../../support/cluster.js';
import { longSeed } from '../../support/mocker-text.js';
import { describeWithNats } from '../../support/nats-server.js';
import { CHAT, COMPLETIONS, chatBody, completionBody, request } from '../../support/requests.js';
import type { Api } from '../../support/requests.js';
import { SseReader, errorEvents } from '../../support/sse.js';
import type { ErrorEvent } from '../../support/sse.js';
import { waitFor } from '../../support/wait-for.js';

/**
 * Distributed mode, nats-server restarted under traffic (frontend | processor,router | worker): requests
 * fail fast during the outage, none hangs, and the service recovers by itself.
 * Every process runs src/main.ts from the sources (LOG_LEVEL=debug) and talks over a real nats-server
 * (THREADLINE_TRANSPORT=nats); see test/support/cluster.ts. Needs `nats-server` (PATH, /usr/sbin, or
 * NATS_SERVER_BIN): without it the suite is skipped with the reason, or fails when THREADLINE_REQUIRE_NATS=1 (as in CI).
 */

/** "Fail fast": the longest a request may take to get its 503 while NATS is down. */
const FAIL_FAST_MS = 5_000;
/** How long the service has to recover by itself once nats-server is back. */
const RECOVERY_MS = 15_000;

describeWithNats(
  'distributed over NATS: nats-server restarted under traffic (frontend | processor,router | worker)',
  () => {
    let cluster: Cluster;

    /** What became of each request of the background traffic (two clients, one request after another). */
    interface Outcome {
      id: string;
      status: number | 'hung' | 'network error';
      message: string;
      ms: number;
    }
    const traffic: Outcome[] = [];
    /** A long stream that was in flight when nats-server went away: how it ended. */
    let inFlight: { id: string; text: string; error?: string } | undefined;

    beforeAll(async () => {
      // 20 ms a token, so that a long generation spans the outage.
      cluster = await startSplitPipeline(['worker'], { common: { MOCKER_DECODE_MS_PER_TOKEN: '20' } });
    }, 120_000);
    afterAll(() => cluster?.stop(), 30_000);

    it('during the outage requests fail fast with 503 naming the id; after it, the service recovers by itself', async () => {
      // Background traffic from before the outage to after the recovery (judged by the next test).
      let flowing = true;
      let next = 0;
      const loop = async () => {
        while (flowing) {
          const id = `traffic-${next++}`;
          const started = Date.now();
          try {
            const res = await request(cluster.url, CHAT, chatBody('steady traffic', { max_tokens: 4 }), {
              id,
              signal: AbortSignal.timeout(NO_HANG_MS),
            });
            const text = await res.text();
            traffic.push({ id, status: res.status, message: text, ms: Date.now() - started });
          } catch (error) {
            const hung = error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError');
            traffic.push({
              id,
              status: hung ? 'hung' : 'network error',
              message: String(error),
              ms: Date.now() - started,
            });
          }
          await sleep(20);
        }
      };
      const loops = [loop(), loop()];
      let inFlightEnded: Promise<void> = Promise.resolve();
      try {
        await waitFor(() => (traffic.filter((o) => o.status === 200).length >= 3 ? true : undefined), 10_000);
        const prompt = 'a story that outlasts the message bus';
        const { seed } = longSeed(prompt, 120);
        const streamId = 'across-outage-1';
        const streamed = await request(
          cluster.url,
          COMPLETIONS,
          completionBody(prompt, { max_tokens: 1000, stream: true, seed }),
          { id: streamId, signal: AbortSignal.timeout(60_000) },
        );
        expect(streamed.status).toBe(200);
        const reader = new SseReader(streamed);
        await reader.until((r) => r.dataCount >= 3, 10_000, '3 data events');
        // Read on in the background, through the outage and the restart, for at most NO_HANG_MS after the restart.
        // Set once nats-server is back; the reader's closure reads it before then, so it cannot be a const.
        let restartedAt: number | undefined = undefined;
        inFlightEnded = (async () => {
          try {
            await reader.until(
              () => restartedAt !== undefined && Date.now() - restartedAt > NO_HANG_MS,
              60_000,
              'end of stream',
            );
            inFlight = reader.done
              ? { id: streamId, text: reader.text }
              : { id: streamId, text: reader.text, error: `still open ${NO_HANG_MS} ms after the restart` };
          } catch (error) {
            inFlight = { id: streamId, text: reader.text, error: String(error) };
          } finally {
            if (!reader.done) await reader.cancel();
          }
        })();

        await cluster.nats.stop();
        const probes: Array<{ api: Api; stream: boolean }> = [
          { api: 'chat', stream: false },
          { api: 'chat', stream: true },
          { api: 'completion', stream: false },
          { api: 'completion', stream: true },
        ];
        for (const [index, { api, stream }] of probes.entries()) {
          const id = `outage-${index}`;
          const started = Date.now();
          const body =
            api === 'chat'
              ? chatBody('during the outage', { max_tokens: 8, stream })
              : completionBody('during the outage', { max_tokens: 8, stream });
          const res = await request(cluster.url, api === 'chat' ? CHAT : COMPLETIONS, body, {
            id,
            signal: AbortSignal.timeout(NO_HANG_MS),
          });
          const text = await res.text();
          const elapsed = Date.now() - started;
          expect(res.status, `${id}: ${text}`).toBe(503);
          expect(res.headers.get('x-request-id')).toBe(id);
          const error = (JSON.parse(text) as ErrorEvent).error;
          expect(error.message).toContain(id);
          expect(elapsed, `${id} took ${elapsed} ms to fail`).toBeLessThan(FAIL_FAST_MS);
        }

        await cluster.nats.restart();
        const restarted = Date.now();
        restartedAt = restarted;
        let recovered: string | undefined;
        for (let attempt = 0; recovered === undefined; attempt++) {
          if (Date.now() - restarted > RECOVERY_MS)
            throw new Error(`no successful request within ${RECOVERY_MS} ms of nats-server's restart`);
          const id = `recover-${attempt}`;
          const res = await request(cluster.url, CHAT, chatBody('after the outage', { max_tokens: 8 }), {
            id,
            signal: AbortSignal.timeout(NO_HANG_MS),
          }).catch(() => undefined);
          await res?.text().catch(() => undefined);
          if (res?.status === 200) recovered = id;
          else await sleep(200);
        }

        // Recovered for real: streams too, through every process.
        for (const [index, api] of (['chat', 'completion'] as const).entries()) {
          const id = `after-${index}`;
          const body =
            api === 'chat'
              ? chatBody('after the outage', { max_tokens: 8, stream: true })
              : completionBody('after the outage', { max_tokens: 8, stream: true });
          const res = await request(cluster.url, api === 'chat' ? CHAT : COMPLETIONS, body, {
            id,
            signal: AbortSignal.timeout(NO_HANG_MS),
          });
          expect(res.status).toBe(200);
          const text = await res.text();
          expect(text.trim().endsWith('data: [DONE]'), text).toBe(true);
          await waitFor(() => (generationEnd(cluster.get('worker'), id) !== undefined ? true : undefined), 5000);
          expect(handling(cluster.get('processor-router'), id, 'processor.generate')).toHaveLength(1);
          expect(handling(cluster.get('processor-router'), id, 'router.route')).toHaveLength(1);
          expect(handling(cluster.get('worker'), id, 'worker.generate')).toHaveLength(1);
        }
      } finally {
        flowing = false;
        await Promise.all([...loops, inFlightEnded]);
      }
    }, 60_000);

    it('a stream in flight when nats-server went away ended (completed, or an error event naming its id), and did not hang', () => {
      expect(inFlight, 'the stream of the previous test').toBeDefined();
      const { id, text, error } = inFlight!;
      expect(error, text.slice(-500)).toBeUndefined();
      const errors = errorEvents(text);
      if (errors.length > 0) {
        expect(errors).toHaveLength(1);
        expect(errors[0]!.error.message).toContain(id);
        expect(text.includes('data: [DONE]')).toBe(false);
      } else {
        expect(text.trim().endsWith('data: [DONE]'), text.slice(-500)).toBe(true);
      }
    });

    it('no request of the traffic hung across the outage: each got an answer, a failure being a 5xx naming its id', () => {
      expect(traffic.length, 'the traffic of the previous test').toBeGreaterThan(0);
      expect(traffic.filter((o) => o.status === 'hung' || o.status === 'network error')).toEqual([]);
      for (const failure of traffic.filter((o) => o.status !== 200)) {
        expect(failure.status as number, failure.message).toBeGreaterThanOrEqual(500);
        expect(failure.message).toContain(failure.id);
      }
      // The traffic went on after the recovery.
      const lastSuccess = traffic.map((o) => o.status).lastIndexOf(200);
      expect(lastSuccess).toBeGreaterThan(traffic.findIndex((o) => o.status !== 200));
    });
  },
);
