import { afterAll, beforeAll, expect, it } from 'vitest';
import { burst, forRequest, NO_HANG_MS, nats, sleep, startCluster, warmUp } from '../../support/cluster.js';
import type { BurstOutcome, Cluster } from '../../support/cluster.js';
import { describeWithNats } from '../../support/nats-server.js';

/**
 * One of two processor-router processes stops (SIGSTOP: a process hung, or paused for a long while)
 * with its connection to nats-server open. nats-server would go on handing it calls to its queue groups
 * until its own ping timeout, minutes later: calls that name no instance go instead to the live instances
 * the caller's registry knows, and one that the stopped instance never took goes to the other, so every
 * request is answered, the first ones within the registry's expiry of three heartbeats. Killed, it is
 * found gone by the first call sent to it (nats-server says nobody listens), which goes to the other.
 */

describeWithNats('a stopped sibling (frontend | processor,router ×2 | worker)', () => {
  let cluster: Cluster;

  beforeAll(async () => {
    cluster = await startCluster(await nats(), [
      { name: 'frontend', components: 'frontend' },
      { name: 'processor-router-a', components: 'processor,router' },
      { name: 'processor-router-b', components: 'processor,router' },
      { name: 'worker', components: 'worker', env: { THREADLINE_WORKERS: '1' } },
    ]);
    await warmUp(cluster, ['worker']);
  }, 120_000);
  afterAll(() => cluster?.stop(), 30_000);

  it(
    'answers every request while one processor-router process is stopped, each in the other one',
    async () => {
      const stopped = cluster.get('processor-router-b');
      const live = cluster.get('processor-router-a');
      // Both take calls before: the calls go to each in turn.
      const before = await burst(cluster.url, 'sibling-before', 4);
      expect(before.map((outcome) => outcome.status)).toEqual([200, 200, 200, 200]);
      expect(before.filter((outcome) => forRequest(stopped, outcome.id).length > 0).length).toBeGreaterThan(0);

      stopped.signal('SIGSTOP');
      const outcomes: BurstOutcome[] = [];
      try {
        for (let i = 0; i < 8; i++) outcomes.push(...(await burst(cluster.url, `sibling-stopped-${i}`, 1)));
      } finally {
        stopped.signal('SIGCONT');
      }
      const failed = outcomes.filter((outcome) => outcome.status !== 200);
      expect(failed, JSON.stringify(failed)).toEqual([]);
      for (const { id } of outcomes) {
        expect(
          live.logs.lines.some((line) => line.requestId === id && line.msg === 'handling processor.generate'),
          `${id} served by the live processor`,
        ).toBe(true);
      }

      // Readiness tells the truth throughout: the live instances can serve.
      const ready = await fetch(`${cluster.url}/ready`);
      expect(ready.status).toBe(200);
      // Once it resumes, the stopped process takes calls again.
      await sleep(1000);
      const after = await burst(cluster.url, 'sibling-after', 4);
      expect(after.map((outcome) => outcome.status)).toEqual([200, 200, 200, 200]);
    },
    NO_HANG_MS + 60_000,
  );

  it(
    'answers every request after one processor-router process is killed: a call nothing listens for goes to the other',
    async () => {
      const killed = cluster.get('processor-router-b');
      killed.signal('SIGKILL');
      await killed.exited;
      const outcomes: BurstOutcome[] = [];
      for (let i = 0; i < 8; i++) outcomes.push(...(await burst(cluster.url, `sibling-killed-${i}`, 1)));
      const failed = outcomes.filter((outcome) => outcome.status !== 200);
      expect(failed, JSON.stringify(failed)).toEqual([]);
    },
    NO_HANG_MS + 30_000,
  );
});
