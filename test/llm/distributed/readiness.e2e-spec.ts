import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nats, startCluster } from '../../support/cluster.js';
import type { Cluster } from '../../support/cluster.js';
import { describeWithNats, startNatsServer } from '../../support/nats-server.js';
import type { NatsServer } from '../../support/nats-server.js';
import { startComponentsFromSource, startFromSource } from '../../support/service-process.js';
import type { ComponentProcess, ServiceProcess, SpawnedService } from '../../support/service-process.js';
import { natsEnv } from '../../support/cluster.js';
import { waitFor } from '../../support/wait-for.js';

/**
 * Readiness (`GET /ready`, Terminus): 200 only when the process can serve a request now, else 503 with
 * the checks that failed under `error`; `GET /health` stays liveness. A process without the Frontend
 * answers both at METRICS_PORT. Over a real nats-server with src/main.ts processes (test/support/cluster.ts),
 * and in one process.
 */

interface Readiness {
  status: number;
  body: { status: string; info?: Record<string, unknown>; error?: Record<string, { status: string }> };
}

async function ready(base: string): Promise<Readiness> {
  const res = await fetch(`${base}/ready`, { signal: AbortSignal.timeout(5000) });
  return { status: res.status, body: (await res.json()) as Readiness['body'] };
}

/** Polls `/ready` until `accept` holds; fails with the last answer. */
async function readyUntil(
  base: string,
  accept: (answer: Readiness) => boolean,
  timeoutMs = 15_000,
): Promise<Readiness> {
  let last: Readiness | undefined;
  try {
    return await waitFor(async () => {
      last = await ready(base).catch(() => undefined);
      return last !== undefined && accept(last) ? last : undefined;
    }, timeoutMs);
  } catch {
    throw new Error(`${base}/ready: not as expected within ${timeoutMs} ms; last: ${JSON.stringify(last)}`);
  }
}

const missing = (answer: Readiness) => Object.keys(answer.body.error ?? {}).sort();

/** The base URL of a process's METRICS_PORT server, from its "metrics at" line. */
async function metricsBase(proc: SpawnedService): Promise<string> {
  const line = await proc.waitForLine(
    (l) => l.context === 'Metrics' && String(l.msg).startsWith('metrics at '),
    10_000,
    'the "metrics at" line',
  );
  return /^metrics at (http:\/\/\S+)\/metrics$/.exec(String(line.msg))![1]!;
}

describeWithNats('readiness over NATS (frontend | processor,router | worker started late)', () => {
  let cluster: Cluster;
  let processorProbes: string;

  beforeAll(async () => {
    const server = await nats();
    cluster = await startCluster(server, [
      { name: 'frontend', components: 'frontend' },
      { name: 'processor-router', components: 'processor,router', env: { METRICS_PORT: '0' } },
    ]);
    processorProbes = await metricsBase(cluster.get('processor-router'));
  }, 120_000);
  afterAll(() => cluster?.stop(), 30_000);

  it('no worker process: 503 naming the worker, on the Frontend and at METRICS_PORT; /health is 200', async () => {
    const front = await readyUntil(
      cluster.url,
      (answer) => answer.status === 503 && missing(answer).includes('worker'),
    );
    expect(missing(front)).toEqual(['worker']);
    expect(front.body.status).toBe('error');
    expect(front.body.info).toMatchObject({
      nats: { status: 'up' },
      processor: { status: 'up' },
      router: { status: 'up' },
    });
    const behind = await ready(processorProbes);
    expect(behind.status).toBe(503);
    expect(missing(behind)).toEqual(['worker']);
    for (const base of [cluster.url, processorProbes])
      expect((await fetch(`${base}/health`)).status, `${base}/health`).toBe(200);
  });

  it('200 once a worker process runs, and at its own METRICS_PORT', async () => {
    const worker = await startComponentsFromSource(
      'worker',
      natsEnv(cluster.nats, { THREADLINE_COMPONENTS: 'worker', THREADLINE_WORKERS: '1', METRICS_PORT: '0' }),
    );
    cluster.procs.set('worker', worker);
    const front = await readyUntil(cluster.url, (answer) => answer.status === 200);
    expect(front.body.status).toBe('ok');
    expect(Object.keys(front.body.info ?? {}).sort()).toEqual(['nats', 'processor', 'router', 'worker']);
    await readyUntil(processorProbes, (answer) => answer.status === 200);
    // A worker needs nothing but NATS and itself.
    const own = await readyUntil(await metricsBase(worker), (answer) => answer.status === 200);
    expect(Object.keys(own.body.info ?? {}).sort()).toEqual(['nats', 'worker']);
  }, 90_000);

  it('nats-server stopped: 503 naming nats; back: 200 again', async () => {
    await cluster.nats.stop();
    const down = await readyUntil(cluster.url, (answer) => answer.status === 503 && missing(answer).includes('nats'));
    expect(down.body.error?.nats?.status).toBe('down');
    const behind = await readyUntil(processorProbes, (answer) => missing(answer).includes('nats'));
    expect(behind.status).toBe(503);
    expect((await fetch(`${cluster.url}/health`)).status).toBe(200);
    await cluster.nats.restart();
    await readyUntil(cluster.url, (answer) => answer.status === 200, 20_000);
    await readyUntil(processorProbes, (answer) => answer.status === 200, 20_000);
  }, 60_000);
});

describeWithNats('a NATS URL with credentials', () => {
  let server: NatsServer;
  let service: ComponentProcess | undefined;
  afterAll(async () => {
    await service?.stop();
    await server?.stop();
  });

  it('is shown without them: the connection line and /ready say nats://***@host', async () => {
    server = await startNatsServer({ auth: { user: 'svc', password: 's3cret-pw' } });
    const withCredentials = `nats://svc:s3cret-pw@127.0.0.1:${server.port}`;
    service = await startComponentsFromSource(
      'all',
      natsEnv({ url: withCredentials }, { THREADLINE_WORKERS: '1', LOG_LEVEL: 'info' }),
    );
    const shown = `nats://***@127.0.0.1:${server.port}`;
    const answer = await readyUntil(service.url!, (one) => one.status === 200);
    expect(answer.body.info?.nats).toEqual({ status: 'up', url: shown });
    await service.waitForLine((line) => String(line.msg).startsWith(`connected to NATS at ${shown} as process `), 5000);
    expect(service.logs.raw.join('\n')).not.toContain('s3cret-pw');
  }, 90_000);
});

describe('readiness in one process', () => {
  let service: ServiceProcess;
  beforeAll(async () => {
    service = await startFromSource({ LOG_LEVEL: 'info' });
  }, 90_000);
  afterAll(() => service?.stop());

  it('200, every component of the pipeline up, no NATS to need', async () => {
    const answer = await ready(service.url);
    expect(answer.status).toBe(200);
    expect(answer.body.status).toBe('ok');
    expect(Object.keys(answer.body.info ?? {}).sort()).toEqual(['processor', 'router', 'worker']);
    const health = await fetch(`${service.url}/health`);
    expect(health.status).toBe(200);
  });
});
