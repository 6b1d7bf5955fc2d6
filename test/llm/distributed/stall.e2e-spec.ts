import { afterAll, beforeAll, expect, it } from 'vitest';
import { burst, NO_HANG_MS, sleep, startSplitPipeline } from '../../support/cluster.js';
import type { Cluster } from '../../support/cluster.js';
import { describeWithNats } from '../../support/nats-server.js';

/**
 * A process stalled (its event loop blocked by a long synchronous task) for longer than the instance
 * expiry does not forget its live peers: right after the stall its Router still knows the workers, so
 * requests do not fail with `no_worker_available`, and it never takes them for gone. THREADLINE_TEST_STALL_MS makes SIGUSR2 stall a process.
 */

/** Longer than the expiry of three heartbeat periods of a second. */
const STALL_MS = 4500;

describeWithNats('a stalled processor process (frontend | processor,router | worker)', () => {
  let cluster: Cluster;

  beforeAll(async () => {
    cluster = await startSplitPipeline(['worker'], { processor: { THREADLINE_TEST_STALL_MS: String(STALL_MS) } });
  }, 120_000);
  afterAll(() => cluster?.stop(), 30_000);

  it(
    'answers the requests sent during and right after the stall, none with no_worker_available',
    async () => {
      const stalled = cluster.get('processor-router');
      stalled.signal('SIGUSR2');
      await stalled.waitForLine((line) => line.msg === `stalling the event loop for ${STALL_MS} ms`, 5000);
      await sleep(STALL_MS - 1000);
      // Sent in the last second of the stall: waiting in the processor's socket when it wakes.
      const during = burst(cluster.url, 'during-stall', 4);
      await stalled.waitForLine((line) => line.msg === 'stall over', STALL_MS + 5000);
      const after = await burst(cluster.url, 'after-stall', 4);
      const outcomes = [...(await during), ...after];
      const failed = outcomes.filter((outcome) => outcome.status !== 200);
      expect(failed, JSON.stringify(failed)).toEqual([]);
      expect(outcomes.some((outcome) => outcome.text.includes('no_worker_available'))).toBe(false);
      expect(
        stalled.logs.lines.filter((line) => String(line.msg).includes('No worker is available')),
        'the router refused for want of a worker',
      ).toEqual([]);
      // Its sweeper runs first when it wakes, before it reads the heartbeats that came meanwhile: it must not
      // take the worker for gone then (calls in flight to it would fail).
      const workerId = cluster.get('worker').instanceIds[0]!;
      expect(
        stalled.logs.lines.filter((line) => String(line.msg).startsWith(`instance ${workerId} gone`)),
        'the stalled process forgot the worker',
      ).toEqual([]);
    },
    NO_HANG_MS + 30_000,
  );
});
