import { afterAll, expect, it } from 'vitest';
import { nats, natsEnv, spawnTracked, stopEverything } from '../../support/cluster.js';
import { describeWithNats, freePort } from '../../support/nats-server.js';
import type { NatsServer } from '../../support/nats-server.js';
import {} from '../../support/requests.js';
import { isServingLine, untilServing } from '../../support/service-process.js';
import type { SpawnedService } from '../../support/service-process.js';

/**
 * Distributed mode, nats-server down at start: a lone worker process, before and after nats-server appears.
 * Every process runs src/main.ts from the sources (LOG_LEVEL=debug) and talks over a real nats-server
 * (THREADLINE_TRANSPORT=nats); see test/support/cluster.ts. Needs `nats-server` (PATH, /usr/sbin, or
 * NATS_SERVER_BIN): without it the suite is skipped with the reason, or fails when THREADLINE_REQUIRE_NATS=1 (as in CI).
 */

describeWithNats('distributed over NATS: nats-server down at start', () => {
  const started: SpawnedService[] = [];
  const servers: NatsServer[] = [];
  afterAll(() => stopEverything(started, servers), 30_000);

  it('a worker process logs the retry naming the URL, keeps running, and serves once nats-server appears', async () => {
    const port = await freePort();
    const url = `nats://127.0.0.1:${port}`;
    const env = natsEnv({ url }, { THREADLINE_COMPONENTS: 'worker', THREADLINE_WORKERS: '1' });
    const worker = spawnTracked('worker-early', env);
    started.push(worker);

    const retry = await worker.waitForLine(
      (line) => line.level >= 50 && typeof line.msg === 'string' && line.msg.includes(url) && /retry/i.test(line.msg),
      15_000,
      `an error line naming ${url} and retrying`,
    );
    expect(retry.msg).toContain(url);
    expect(worker.running).toBe(true);
    expect(worker.logs.lines.some(isServingLine)).toBe(false);

    const server = await nats({ port });
    servers.push(server);
    const ready = await untilServing(worker, env, 20_000);
    expect(ready.instanceIds).toHaveLength(1);
    expect(ready.instanceIds[0]!.startsWith('worker-')).toBe(true);
    expect(worker.running).toBe(true);
  }, 60_000);
});
