import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  NO_HANG_MS,
  burst,
  expectOneRequestPerCall,
  expectOwnComponent,
  forRequest,
  generationEnd,
  handling,
  nats,
  startCluster,
  warmUp,
} from '../../support/cluster.js';
import type { BurstOutcome, Cluster } from '../../support/cluster.js';
import { longSeed } from '../../support/mocker-text.js';
import { describeWithNats } from '../../support/nats-server.js';
import { UUID_V4 } from '../../support/raw-http.js';
import { CHAT, COMPLETIONS, chatBody, completionBody, request } from '../../support/requests.js';
import type { Api } from '../../support/requests.js';
import { isServingLine } from '../../support/service-process.js';
import { SseReader, errorEvents, sseJson } from '../../support/sse.js';
import { waitFor } from '../../support/wait-for.js';

/**
 * Distributed mode (docs/pipeline.md), one process per component: frontend | processor | router |
 * worker | worker (THREADLINE_WORKERS=1 each): ids on every process that touched a request and only there,
 * 200 concurrent streams, cancellation.
 * Every process runs src/main.ts from the sources (LOG_LEVEL=debug) and talks over a real nats-server
 * (THREADLINE_TRANSPORT=nats); see test/support/cluster.ts. Needs `nats-server` (PATH, /usr/sbin, or
 * NATS_SERVER_BIN): without it the suite is skipped with the reason, or fails when THREADLINE_REQUIRE_NATS=1 (as in CI).
 */

describeWithNats(
  'distributed over NATS: one process per component (frontend | processor | router | worker | worker)',
  () => {
    let cluster: Cluster;
    const workerNames = ['worker-a', 'worker-b'];
    const single = ['frontend', 'processor', 'router'];
    let firstBurst: BurstOutcome[] = [];

    beforeAll(async () => {
      const server = await nats();
      cluster = await startCluster(
        server,
        [
          { name: 'frontend', components: 'frontend' },
          { name: 'processor', components: 'processor' },
          { name: 'router', components: 'router' },
          { name: 'worker-a', components: 'worker', env: { THREADLINE_WORKERS: '1' } },
          { name: 'worker-b', components: 'worker', env: { THREADLINE_WORKERS: '1' } },
        ],
        { MOCKER_DECODE_MS_PER_TOKEN: '5' },
      );
      // Sent the moment every process is ready, judged by the first test.
      firstBurst = await burst(cluster.url, 'first', 8);
      await warmUp(cluster, workerNames);
    }, 120_000);
    afterAll(() => cluster?.stop(), 30_000);

    const workers = () => workerNames.map((name) => cluster.get(name));

    it('requests sent as soon as every process logged its serving line succeed', () => {
      const failed = firstBurst.filter((outcome) => outcome.status !== 200);
      expect(failed.map((outcome) => `${outcome.id}: ${outcome.status} ${outcome.text.slice(0, 300)}`)).toEqual([]);
    });

    it('every process announces its instances; ids are unique across processes; only the frontend listens on HTTP', () => {
      expect(cluster.get('frontend').instanceIds).toEqual([]);
      expect(
        cluster.get('frontend').logs.lines.some((line) => isServingLine(line) && line.msg === 'serving no components'),
      ).toBe(true);
      for (const name of ['processor', 'router']) {
        expect(cluster.get(name).instanceIds).toHaveLength(1);
        expect(cluster.get(name).instanceIds[0]!.startsWith(`${name}-`)).toBe(true);
      }
      for (const worker of workers()) {
        expect(worker.instanceIds).toHaveLength(1);
        expect(worker.instanceIds[0]!.startsWith('worker-')).toBe(true);
      }
      const all = [...cluster.procs.values()].flatMap((proc) => proc.instanceIds);
      expect(new Set(all).size).toBe(all.length);
      for (const proc of cluster.procs.values()) {
        expect(proc.logs.lines.filter(isServingLine), `${proc.name}: one serving line`).toHaveLength(1);
        if (proc.name !== 'frontend')
          expect(proc.logs.contains('Server listening at'), `${proc.name} listens on HTTP`).toBe(false);
      }
    });

    const cases: Array<{ api: Api; stream: boolean; id: string | undefined }> = [
      { api: 'chat', stream: false, id: 'dist-chat-unary-1' },
      { api: 'chat', stream: true, id: 'dist-chat-stream-1' },
      { api: 'completion', stream: false, id: 'dist-cmpl-unary-1' },
      { api: 'completion', stream: true, id: 'dist-cmpl-stream-1' },
      { api: 'chat', stream: true, id: undefined },
    ];

    it("carries the request's W3C trace to every process, with the id: same trace id, each hop's own parent span", async () => {
      const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
      // Each hop's traceparent names the caller's span for that call: the trace is the request's.
      const sameTrace = /^00-0af7651916cd43dd8448eb211c80319c-(?!b7ad6b7169203331)[0-9a-f]{16}-01$/;
      const res = await fetch(`${cluster.url}${COMPLETIONS}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-request-id': 'dist-trace-1', traceparent },
        body: JSON.stringify(completionBody('traced over the wire', { max_tokens: 8 })),
        signal: AbortSignal.timeout(NO_HANG_MS),
      });
      expect(res.status).toBe(200);
      for (const [name, endpoint] of [
        ['processor', 'processor.generate'],
        ['router', 'router.route'],
      ] as const) {
        expect(handling(cluster.get(name), 'dist-trace-1', endpoint).map((line) => line.traceparent)).toEqual([
          expect.stringMatching(sameTrace) as unknown,
        ]);
      }
      const served = await waitFor(
        () => workers().find((worker) => handling(worker, 'dist-trace-1', 'worker.generate').length > 0),
        10_000,
      );
      expect(handling(served, 'dist-trace-1', 'worker.generate').map((line) => line.traceparent)).toEqual([
        expect.stringMatching(sameTrace) as unknown,
      ]);
    });

    it.each(cases)(
      '$api, stream $stream, id $id: answered with the id, which is on the lines of every process that touched it and only there',
      async ({ api, stream, id: sent }) => {
        const path = api === 'chat' ? CHAT : COMPLETIONS;
        const body =
          api === 'chat'
            ? chatBody('hello over the wire', { max_tokens: 8, stream })
            : completionBody('hello over the wire', { max_tokens: 8, stream });
        const res = await request(cluster.url, path, body, { id: sent, signal: AbortSignal.timeout(NO_HANG_MS) });
        expect(res.status).toBe(200);
        const id = res.headers.get('x-request-id')!;
        if (sent !== undefined) expect(id).toBe(sent);
        else expect(id).toMatch(UUID_V4);
        const bodyId = `${api === 'chat' ? 'chatcmpl' : 'cmpl'}-${id}`;
        if (stream) {
          const text = await res.text();
          expect(text.trim().endsWith('data: [DONE]')).toBe(true);
          expect(errorEvents(text)).toEqual([]);
          const chunkIds = sseJson(text).flatMap((event) =>
            typeof event === 'object' ? [(event as { id: string }).id] : [],
          );
          expect(chunkIds.length).toBeGreaterThan(0);
          expect(new Set(chunkIds)).toEqual(new Set([bodyId]));
        } else {
          const json = (await res.json()) as { id: string; choices: unknown[] };
          expect(json.id).toBe(bodyId);
          expect(json.choices).toHaveLength(1);
        }

        // The worker that served it, once it logged the end of the generation.
        const served = await waitFor(() => workers().find((worker) => generationEnd(worker, id) !== undefined), 10_000);
        const other = workers().find((worker) => worker !== served)!;
        expect(generationEnd(served, id)!.msg).toMatch(/^generation finished: \d+ tokens$/);

        const frontend = cluster.get('frontend');
        await waitFor(
          () => (forRequest(frontend, id).some((line) => line.msg === 'request completed') ? true : undefined),
          5000,
        );
        expect(
          forRequest(frontend, id).some(
            (line) =>
              line.component === 'frontend' &&
              line.msg === `serving ${api === 'chat' ? 'chat/completions' : 'completions'}`,
          ),
        ).toBe(true);
        expectOwnComponent(frontend, id, 'frontend');

        for (const [name, endpoint] of [
          ['processor', 'processor.generate'],
          ['router', 'router.route'],
        ] as const) {
          const proc = cluster.get(name);
          const lines = handling(proc, id, endpoint);
          expect(lines, `${name}: one "handling ${endpoint}" line for ${id}`).toHaveLength(1);
          expect(lines[0]).toMatchObject({ requestId: id, component: name });
          expect(typeof lines[0]!.callId).toBe('string');
          expect(proc.instanceIds).toContain(lines[0]!.instanceId);
          expectOwnComponent(proc, id, name);
        }
        const generate = handling(served, id, 'worker.generate');
        expect(generate).toHaveLength(1);
        expect(generate[0]).toMatchObject({ requestId: id, component: 'worker' });
        expect(served.instanceIds).toContain(generate[0]!.instanceId);
        expectOwnComponent(served, id, 'worker');
        // The router said where it went, by the served process's instance id.
        expect(
          forRequest(cluster.get('router'), id).some((line) => line.msg === `routed to ${served.instanceIds[0]}`),
        ).toBe(true);

        // And nowhere else: the other worker process never heard of it.
        expect(forRequest(other, id)).toEqual([]);
        expect(other.logs.contains(id)).toBe(false);
      },
      30_000,
    );

    it('200 concurrent streamed requests with distinct ids: zero cross-talk, in any process', async () => {
      const ids = Array.from({ length: 200 }, (_, i) => `dist-xtalk-${i}`);
      const results = await Promise.all(
        ids.map(async (id, i) => {
          const res = await request(
            cluster.url,
            CHAT,
            chatBody(`prompt number ${i}`, { stream: true, max_tokens: 6 }),
            { id, signal: AbortSignal.timeout(25_000) },
          );
          return { id, status: res.status, header: res.headers.get('x-request-id'), text: await res.text() };
        }),
      );
      for (const { id, status, header, text } of results) {
        expect(status, text).toBe(200);
        expect(header).toBe(id);
        expect(text.trim().endsWith('data: [DONE]'), `${id}: ${text.slice(-300)}`).toBe(true);
        const chunkIds = [...text.matchAll(/"id":"(chatcmpl-[^"]+)"/g)].map((m) => m[1]);
        expect(chunkIds.length).toBeGreaterThan(0);
        expect(new Set(chunkIds)).toEqual(new Set([`chatcmpl-${id}`]));
      }

      // Every generation has ended (and been logged) before the logs are judged.
      await waitFor(
        () =>
          ids.every((id) => workers().some((worker) => generationEnd(worker, id) !== undefined)) ? true : undefined,
        15_000,
      );
      for (const proc of cluster.procs.values()) expectOneRequestPerCall(proc);
      for (const id of ids) {
        expect(forRequest(cluster.get('frontend'), id).length, `frontend lines for ${id}`).toBeGreaterThan(0);
        expect(handling(cluster.get('processor'), id, 'processor.generate'), id).toHaveLength(1);
        expect(handling(cluster.get('router'), id, 'router.route'), id).toHaveLength(1);
        const perWorker = workers().map((worker) => handling(worker, id, 'worker.generate').length);
        expect(perWorker.sort(), `${id}: worker.generate calls per worker process`).toEqual([0, 1]);
        const unserved = workers().find((worker) => handling(worker, id, 'worker.generate').length === 0)!;
        expect(forRequest(unserved, id), `${unserved.name} has lines for ${id}`).toEqual([]);
      }
      for (const name of single) for (const id of ids.slice(0, 20)) expectOwnComponent(cluster.get(name), id, name);
    }, 60_000);

    it('a client that disconnects mid-stream: the worker process stops generating and logs it with the id', async () => {
      const id = 'dist-gone-1';
      const prompt = 'a long story told over the wire';
      const { seed, length } = longSeed(prompt, 150);
      const abort = new AbortController();
      const res = await request(
        cluster.url,
        COMPLETIONS,
        completionBody(prompt, { max_tokens: 4000, stream: true, seed }),
        { id, signal: abort.signal },
      );
      expect(res.status).toBe(200);
      expect(res.headers.get('x-request-id')).toBe(id);
      const reader = new SseReader(res);
      await reader.until((r) => r.dataCount >= 5, 10_000, '5 data events');
      abort.abort();
      await reader.cancel();

      const stopLine = await waitFor(
        () =>
          workers()
            .flatMap((worker) => forRequest(worker, id))
            .find((line) => String(line.msg).startsWith('generation stopped')),
        10_000,
      );
      expect(stopLine).toMatchObject({ requestId: id, component: 'worker', context: 'MockerEngine' });
      expect(stopLine.msg).toBe(
        `generation stopped after ${stopLine.produced as number} of ${length} tokens: request cancelled`,
      );
      expect(stopLine.produced as number).toBeGreaterThanOrEqual(5);
      expect(stopLine.produced as number).toBeLessThan(length);
      for (const worker of workers())
        expect(forRequest(worker, id).some((line) => String(line.msg).startsWith('generation finished'))).toBe(false);
    }, 30_000);
  },
);
