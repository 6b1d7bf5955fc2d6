import { afterAll, expect, it } from 'vitest';
import { nats, natsEnv, spawnTracked, stopEverything } from '../../support/cluster.js';
import { describeWithNats, freePort } from '../../support/nats-server.js';
import type { NatsServer } from '../../support/nats-server.js';
import { UUID_V4 } from '../../support/raw-http.js';
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

  it('a Frontend process holds its port meanwhile: /health 200, /ready 503 naming nats, a request a 503 with its id', async () => {
    const port = await freePort();
    const url = `nats://127.0.0.1:${port}`;
    const httpPort = await freePort();
    const env = natsEnv({ url }, { THREADLINE_COMPONENTS: 'frontend', PORT: String(httpPort) });
    const frontend = spawnTracked('frontend-early', env);
    started.push(frontend);
    await frontend.waitForLine(
      (line) => line.level >= 50 && typeof line.msg === 'string' && line.msg.includes(url),
      15_000,
      `an error line naming ${url}`,
    );
    const base = `http://127.0.0.1:${httpPort}`;
    const health = await fetch(`${base}/health`, { headers: { 'x-request-id': 'early-health' } });
    expect(health.status).toBe(200);
    expect(health.headers.get('x-request-id')).toBe('early-health');
    const ready = await fetch(`${base}/ready`);
    expect(ready.status).toBe(503);
    expect(ready.headers.get('x-request-id')).toMatch(UUID_V4);
    expect(await ready.json()).toMatchObject({ status: 'error', error: { nats: { status: 'down' } } });
    const refused = await fetch(`${base}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'bad id' },
      body: JSON.stringify({ model: 'threadline-mocker', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    // An invalid id is replaced, never echoed.
    expect(refused.headers.get('x-request-id')).toMatch(UUID_V4);
    expect(await refused.json()).toMatchObject({ error: { type: 'server_error', code: 'starting' } });

    const server = await nats({ port });
    servers.push(server);
    await untilServing(frontend, env, 20_000);
    // The app has the port now: its own readiness, which waits for the components it reaches.
    const served = await fetch(`${base}/ready`);
    expect(served.status).toBe(503);
    expect(Object.keys(((await served.json()) as { error: object }).error)).toContain('processor');
  }, 60_000);
});
