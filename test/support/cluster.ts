import { afterAll, expect } from 'vitest';
import type { LogLine } from './log-capture.js';
import { startNatsServer } from './nats-server.js';
import type { NatsServer } from './nats-server.js';
import { CHAT, chatBody, request } from './requests.js';
import { spawnFromSource, untilServing } from './service-process.js';
import type { ComponentProcess, SpawnedService } from './service-process.js';
import { waitFor } from './wait-for.js';

/**
 * A cluster for the distributed tests: a real nats-server and src/main.ts processes, each running some
 * of the components (THREADLINE_COMPONENTS), talking over it. Every process and server started through
 * this module is tracked from its first moment and stopped after the test file, whatever happened.
 */

/** How long a process may take to be ready (several start at once on a small machine). */
export const READY_MS = 60_000;
/** "Never a hang": the longest a client may wait for an answer when something broke. */
export const NO_HANG_MS = 15_000;

const allServices = new Set<SpawnedService>();
const allNats = new Set<NatsServer>();

/** Stops the services (they may try to drain over NATS), then the servers. */
export async function stopEverything(
  services: Iterable<SpawnedService> = allServices,
  nats: Iterable<NatsServer> = allNats,
): Promise<void> {
  await Promise.all([...services].map((service) => service.stop(2000)));
  await Promise.all([...nats].map((server) => server.stop()));
}

afterAll(() => stopEverything(), 30_000);

/** A nats-server, tracked. */
export async function nats(options: { port?: number; maxPayload?: number } = {}): Promise<NatsServer> {
  const server = await startNatsServer(options);
  allNats.add(server);
  return server;
}

/** `spawnFromSource`, tracked. */
export function spawnTracked(name: string, env: NodeJS.ProcessEnv): SpawnedService {
  const service = spawnFromSource(name, env);
  allServices.add(service);
  return service;
}

export interface ProcessSpec {
  /** A name for messages and lookups, e.g. `worker-a`. */
  name: string;
  /** THREADLINE_COMPONENTS */
  components: string;
  /** More environment for this process (THREADLINE_WORKERS...). */
  env?: NodeJS.ProcessEnv;
}

export interface Cluster {
  nats: NatsServer;
  procs: Map<string, ComponentProcess>;
  get(name: string): ComponentProcess;
  /** The frontend's base URL. */
  url: string;
  stop(): Promise<void>;
}

/** The environment of a process of the cluster on `server`. */
export function natsEnv(server: { url: string }, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    THREADLINE_TRANSPORT: 'nats',
    NATS_URL: server.url,
    LOG_LEVEL: 'debug',
    THREADLINE_SHUTDOWN_GRACE_MS: '2000',
    ...extra,
  };
}

/** Spawns the processes, tracked from the first moment, all at once; waits until every one serves. */
export async function startCluster(
  server: NatsServer,
  specs: ProcessSpec[],
  common: NodeJS.ProcessEnv = {},
): Promise<Cluster> {
  const spawned = specs.map((spec) => {
    const env = natsEnv(server, { ...common, THREADLINE_COMPONENTS: spec.components, ...spec.env });
    return { spec, env, service: spawnTracked(spec.name, env) };
  });
  const results = await Promise.allSettled(spawned.map(({ service, env }) => untilServing(service, env, READY_MS)));
  const failures = results.flatMap((result) => (result.status === 'rejected' ? [String(result.reason)] : []));
  if (failures.length > 0) {
    // Not left running (and eating the CPU) until the file ends.
    await Promise.all(spawned.map(({ service }) => service.stop(1000)));
    throw new Error(`the cluster did not start:\n${failures.join('\n\n')}`);
  }
  const procs = new Map(spawned.map(({ spec, service }) => [spec.name, service as ComponentProcess]));
  const frontend = [...procs.values()].find((proc) => proc.url !== undefined);
  if (frontend === undefined) throw new Error('no process of the cluster runs the frontend');
  const get = (name: string) => {
    const proc = procs.get(name);
    if (proc === undefined) throw new Error(`no process named ${name}`);
    return proc;
  };
  return { nats: server, procs, get, url: frontend.url!, stop: () => stopEverything(procs.values(), [server]) };
}

/** More environment for the processes of `splitPipeline`. */
export interface SplitPipelineEnv {
  /** For each worker process (each runs one worker unless this says otherwise). */
  worker?: NodeJS.ProcessEnv;
  /** For the processor-router process. */
  processor?: NodeJS.ProcessEnv;
}

/** The layout most distributed tests use: `frontend`, `processor-router`, and a worker process per name. */
export function splitPipeline(workers: string[], env: SplitPipelineEnv = {}): ProcessSpec[] {
  return [
    { name: 'frontend', components: 'frontend' },
    {
      name: 'processor-router',
      components: 'processor,router',
      ...(env.processor !== undefined && { env: env.processor }),
    },
    ...workers.map((name) => ({ name, components: 'worker', env: { THREADLINE_WORKERS: '1', ...env.worker } })),
  ];
}

/**
 * `splitPipeline` on a nats-server of its own, `common` the environment of every process; returned once
 * warmed up, every worker process having served a request.
 */
export async function startSplitPipeline(
  workers: string[],
  env: SplitPipelineEnv & { common?: NodeJS.ProcessEnv } = {},
): Promise<Cluster> {
  const cluster = await startCluster(await nats(), splitPipeline(workers, env), env.common);
  await warmUp(cluster, workers);
  return cluster;
}

/**
 * `startSplitPipeline` with the `openai` engine in every process, in front of the upstream at
 * `upstreamUrl`, as a deployment gives each process its settings; round-robin, so that a test knows which
 * worker serves which request.
 */
export function startUpstreamPipeline(workers: string[], upstreamUrl: string): Promise<Cluster> {
  return startSplitPipeline(workers, {
    common: { THREADLINE_ENGINE: 'openai', UPSTREAM_URL: upstreamUrl, THREADLINE_ROUTER: 'round-robin' },
  });
}

export interface BurstOutcome {
  id: string;
  status: number | 'no answer';
  text: string;
}

/** `count` concurrent non-streamed chat requests with distinct prompts and ids `<prefix>-<i>`. */
export function burst(url: string, prefix: string, count: number): Promise<BurstOutcome[]> {
  return Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const id = `${prefix}-${i}`;
      try {
        const res = await request(url, CHAT, chatBody(`warm up number ${i} of ${prefix}`, { max_tokens: 2 }), {
          id,
          signal: AbortSignal.timeout(NO_HANG_MS),
        });
        return { id, status: res.status, text: await res.text() };
      } catch (error) {
        return { id, status: 'no answer' as const, text: String(error) };
      }
    }),
  );
}

/**
 * Readiness is each process's `serving` line. The tests proper start once the cluster as a whole has
 * settled: every request of a burst succeeded, and each of `workers` (process names) served one of them.
 */
export async function warmUp(cluster: Cluster, workers: string[] = [], timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const servedOne = () =>
    workers.every((name) =>
      cluster
        .get(name)
        .logs.lines.some(
          (line) => line.msg === 'handling worker.generate' && String(line.requestId).startsWith('warmup-'),
        ),
    );
  let last: BurstOutcome[] = [];
  for (let round = 0; Date.now() < deadline; round++) {
    last = await burst(cluster.url, `warmup-${round}`, 8);
    // The worker logs its line when the call starts; the pipe to this process may lag a little.
    if (
      last.every((outcome) => outcome.status === 200) &&
      (await waitFor(() => (servedOne() ? true : undefined), 500).catch(() => false))
    )
      return;
    await sleep(200);
  }
  const failed = last
    .filter((outcome) => outcome.status !== 200)
    .map((outcome) => `${outcome.id}: ${outcome.status} ${outcome.text.slice(0, 300)}`);
  throw new Error(
    `the cluster did not settle within ${timeoutMs} ms (every request of a burst answered, each of ${workers.join(', ') || 'no worker'} serving one):\n${failed.join('\n')}`,
  );
}

// Reading a process's log lines about a request.

export function forRequest(proc: SpawnedService, id: string): LogLine[] {
  return proc.logs.lines.filter((line) => line.requestId === id);
}

/** The `handling <endpoint>` lines of `proc` for request `id`. */
export function handling(proc: SpawnedService, id: string, what: string): LogLine[] {
  return forRequest(proc, id).filter((line) => line.msg === `handling ${what}`);
}

/** The worker's last line about a generation: `generation finished: N tokens` or `generation stopped …`. */
export function generationEnd(proc: SpawnedService, id: string): LogLine | undefined {
  return forRequest(proc, id).find(
    (line) => typeof line.msg === 'string' && /^generation (finished|stopped)/.test(line.msg),
  );
}

/** Every line of `proc` for the request names `component` (lines written before the context existed name none). */
export function expectOwnComponent(proc: SpawnedService, id: string, component: string): void {
  const foreign = forRequest(proc, id).filter((line) => line.component !== undefined && line.component !== component);
  expect(foreign, `${proc.name}: lines for ${id} naming another component`).toEqual([]);
}

/** In one process, every line about a call (callId) carries one request id. Returns how many calls it saw. */
export function expectOneRequestPerCall(proc: SpawnedService): number {
  const requestByCall = new Map<string, unknown>();
  const mixed: string[] = [];
  for (const line of proc.logs.lines) {
    if (typeof line.callId !== 'string') continue;
    const known = requestByCall.get(line.callId);
    if (!requestByCall.has(line.callId)) requestByCall.set(line.callId, line.requestId);
    else if (known !== line.requestId) mixed.push(`${line.callId}: ${String(known)} and ${String(line.requestId)}`);
  }
  expect(mixed, `${proc.name}: calls whose lines carry two request ids`).toEqual([]);
  return requestByCall.size;
}

/** `promise`, or a failure naming `what` after `ms`. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>(
    (_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)),
  );
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
