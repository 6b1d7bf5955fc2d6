import { afterAll, beforeAll, expect, it } from 'vitest';
import { forRequest, handling, nats, NO_HANG_MS, startCluster, warmUp } from '../../support/cluster.js';
import type { Cluster } from '../../support/cluster.js';
import { describeWithNats } from '../../support/nats-server.js';
import type { SpawnedService } from '../../support/service-process.js';
import { COMPLETIONS, completionBody, request, send } from '../../support/requests.js';
import { errorEvents, serviceChunks } from '../../support/sse.js';
import { waitFor } from '../../support/wait-for.js';

/**
 * Disaggregated serving over NATS (frontend | processor,router | worker-a | worker-b | prefill) when the
 * Prefill worker is lost: `kill -9` of the prefill process mid-prefill, then requests while it is down.
 * A long prompt is prefilled by its decode worker instead, as Dynamo's decode workers fall back to local
 * prefill: the client gets its whole answer, the Processor moves nothing (the worker is not to blame),
 * and the worker says once, at warn, why it prefilled locally. Readiness does not need a Prefill worker:
 * the Frontend's `/ready` stays 200 and says that remote prefill is unavailable.
 */

/** Uncached prompt tokens above which a Worker asks the Prefill worker. */
const THRESHOLD = 256;

/** A prompt of about a thousand tokens, distinct per `seed` (nothing of it cached anywhere). */
function longPrompt(seed: string): string {
  return Array.from({ length: 500 }, (_, i) => `${seed}${(i * 7919) % 1000}`).join(' ');
}

interface Completion {
  choices: Array<{ text: string; finish_reason: string }>;
  usage: { prompt_tokens: number };
}

/** The codes a Worker's call to a Prefill worker that was killed may fail with. */
const UNAVAILABLE = ['instance_gone', 'component_unavailable', 'no_instance_answered'];

const isWarn = (line: { level: number }) => line.level === 40;
const fallbackLines = (proc: SpawnedService, id: string) =>
  forRequest(proc, id).filter((line) => isWarn(line) && String(line.msg).startsWith('remote prefill unavailable ('));

describeWithNats('disaggregated serving, the Prefill worker lost (kill -9)', () => {
  let cluster: Cluster;
  const workers = ['worker-a', 'worker-b'];
  /** The worker process that served request `id`. */
  const servedBy = (id: string) => {
    const found = workers
      .map((name) => cluster.get(name))
      .filter((proc) => handling(proc, id, 'worker.generate').length);
    expect(found, `the workers that served ${id}`).toHaveLength(1);
    return found[0]!;
  };

  beforeAll(async () => {
    cluster = await startCluster(
      await nats(),
      [
        { name: 'frontend', components: 'frontend' },
        { name: 'processor-router', components: 'processor,router' },
        ...workers.map((name) => ({ name, components: 'worker', env: { THREADLINE_WORKERS: '1' } })),
        { name: 'prefill', components: 'prefill' },
      ],
      {
        THREADLINE_DISAGG: '1',
        THREADLINE_DISAGG_THRESHOLD: String(THRESHOLD),
        // About 3 s of prefill for a long prompt: long enough to kill its process mid-way.
        MOCKER_PREFILL_US_PER_TOKEN: '3000',
      },
    );
    await warmUp(cluster, workers);
  }, 120_000);
  afterAll(() => cluster?.stop(), 30_000);

  it('killed mid-prefill: the worker prefills locally and the stream ends whole; no migration', async () => {
    const id = 'prefill-killed';
    const res = await request(
      cluster.url,
      COMPLETIONS,
      completionBody(longPrompt('killed'), { max_tokens: 5, stream: true }),
      {
        id,
        signal: AbortSignal.timeout(25_000),
      },
    );
    expect(res.status).toBe(200);
    const prefill = cluster.get('prefill');
    await prefill.waitForLine(
      (line) => line.requestId === id && line.msg === 'handling prefill.prefill',
      10_000,
      'the remote prefill',
    );
    prefill.signal('SIGKILL');
    const body = await res.text();
    expect(errorEvents(body)).toEqual([]);
    const chunks = serviceChunks<{ choices: Array<{ text: string }> }>(body);
    expect(chunks.map((chunk) => chunk.choices[0]?.text ?? '').join('').length).toBeGreaterThan(0);

    const processor = cluster.get('processor-router');
    const moved = forRequest(processor, id).filter((line) => String(line.msg).startsWith('request migrated from'));
    expect(moved).toEqual([]);
    const worker = servedBy(id);
    // Once, at warn, with the reason: the call's instance was lost (the call is sent again, finds none, and
    // says what happened to it).
    const warned = await waitFor(() => (fallbackLines(worker, id).length > 0 ? fallbackLines(worker, id) : undefined));
    expect(warned).toHaveLength(1);
    expect(warned[0]).toMatchObject({ component: 'worker', reason: 'instance_gone' });
    // The worker prefilled the whole prompt itself.
    const done = forRequest(worker, id).find((line) => line.msg === 'prefill done');
    expect(done).toMatchObject({ cachedTokens: 0 });
    expect(Number(done!.prefillMs)).toBeGreaterThan(0);
  }, 30_000);

  it('while it is down: long prompts are prefilled by the workers, streamed or not', async () => {
    // Both at once: each worker prefills its own.
    const [plain, streamed] = await Promise.all([
      send(cluster.url, COMPLETIONS, completionBody(longPrompt('down-plain'), { max_tokens: 3 }), {
        id: 'prefill-down-plain',
        signal: AbortSignal.timeout(NO_HANG_MS),
      }),
      send(cluster.url, COMPLETIONS, completionBody(longPrompt('down-streamed'), { max_tokens: 3, stream: true }), {
        id: 'prefill-down-streamed',
        signal: AbortSignal.timeout(NO_HANG_MS),
      }),
    ]);
    expect(plain.status, plain.text).toBe(200);
    const answer = JSON.parse(plain.text) as Completion;
    expect(answer.usage.prompt_tokens).toBeGreaterThan(THRESHOLD);
    expect(answer.choices[0]!.text.length).toBeGreaterThan(0);
    expect(streamed.status).toBe(200);
    expect(errorEvents(streamed.text)).toEqual([]);
    serviceChunks(streamed.text);

    for (const id of ['prefill-down-plain', 'prefill-down-streamed']) {
      servedBy(id);
      expect(forRequest(cluster.get('processor-router'), id).filter((line) => isWarn(line))).toEqual([]);
      // Every fallback is on its generation's span (the timeline gathers it from the worker's process).
      const timeline = (await (await fetch(`${cluster.url}/debug/requests/${id}`)).json()) as {
        spans: Array<{ name: string; attributes: Record<string, unknown>; events: Array<{ name: string }> }>;
      };
      const generation = timeline.spans.find((span) => span.name === 'gen_ai.generate');
      expect(generation?.attributes['threadline.prefill.fallback'], id).toBe('local');
      expect(UNAVAILABLE).toContain(generation?.attributes['threadline.prefill.fallback_reason']);
      expect(generation?.events.map((event) => event.name)).toContain('threadline.prefill.fallback');
    }
    // The log is rate-limited: within a minute, each worker wrote one fallback line at most, whatever
    // the number of requests it prefilled itself.
    for (const name of workers) {
      const lines = cluster
        .get(name)
        .logs.lines.filter((line) => isWarn(line) && String(line.msg).startsWith('remote prefill unavailable ('));
      expect(lines.length, name).toBeLessThanOrEqual(1);
    }
  }, 30_000);

  it('while it is down: the Frontend is ready, its /ready saying that remote prefill is unavailable', async () => {
    let last = '';
    const answer = await waitFor(async () => {
      const res = await fetch(`${cluster.url}/ready`, { signal: AbortSignal.timeout(5000) });
      const body = (await res.json()) as { status: string; info?: Record<string, Record<string, unknown>> };
      last = `${res.status} ${JSON.stringify(body)}`;
      return res.status === 200 && body.info?.prefill?.instances === 0 ? body : undefined;
    }, 10_000).catch(() => expect.fail(`/ready: last answer ${last}`));
    expect(answer.status).toBe('ok');
    expect(answer.info?.prefill).toMatchObject({ status: 'up', optional: true, instances: 0 });
    expect(String(answer.info?.prefill?.message)).toMatch(/^remote prefill unavailable/);
    expect(Object.keys(answer.info ?? {}).sort()).toEqual(['nats', 'prefill', 'processor', 'router', 'worker']);
  });
});
