import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { LogCapture, tail, waitForLine } from './log-capture.js';
import type { LogLine } from './log-capture.js';

const ROOT = new URL('../..', import.meta.url).pathname;

export interface ServiceProcess {
  child: ChildProcess;
  url: string;
  /** Everything the process wrote to stdout: one JSON log line per line. */
  logs: LogCapture;
  stop(): Promise<void>;
}

/**
 * Runs `npm <script>` in the project root as its own process group (so that stopping it also stops
 * the `node` it starts), and waits for Fastify's "Server listening at" line. Use PORT=0 for a free port.
 */
export function startNpmScript(script: string, env: NodeJS.ProcessEnv, timeoutMs = 90_000): Promise<ServiceProcess> {
  const child = spawn('npm', ['run', '--silent', script], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return untilListening(child, `npm ${script}`, () => process.kill(-child.pid!, 'SIGTERM'), timeoutMs);
}

/**
 * Runs the service from its TypeScript sources (src/main.ts) as its own process, on a free loopback
 * port, with the mocker's delays off unless `env` sets them.
 */
export function startFromSource(env: NodeJS.ProcessEnv, timeoutMs = 60_000): Promise<ServiceProcess> {
  const child = spawnSource(env);
  return untilListening(child, 'src/main.ts', () => child.kill('SIGTERM'), timeoutMs);
}

function spawnSource(env: NodeJS.ProcessEnv): ChildProcess {
  return spawn(
    process.execPath,
    ['--conditions=threadline-source', '--import', `${ROOT}test/support/ts-register.mjs`, `${ROOT}src/main.ts`],
    {
      cwd: ROOT,
      env: {
        ...process.env,
        PORT: '0',
        HOST: '127.0.0.1',
        MOCKER_PREFILL_US_PER_TOKEN: '0',
        MOCKER_DECODE_MS_PER_TOKEN: '0',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
}

function untilListening(
  child: ChildProcess,
  name: string,
  terminate: () => void,
  timeoutMs: number,
): Promise<ServiceProcess> {
  const logs = new LogCapture();
  child.stdout!.pipe(logs);
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    terminate();
    const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(killer);
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`${name} did not start listening within ${timeoutMs} ms:\n${stderr}`));
    }, timeoutMs);
    const check = setInterval(() => {
      const match = logs.raw
        .map((line) => /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(line))
        .find((m) => m !== null);
      if (match) {
        clearInterval(check);
        clearTimeout(timer);
        resolve({ child, url: match[1]!, logs, stop });
      }
    }, 20);
    void exited.then(() => {
      clearInterval(check);
      clearTimeout(timer);
      reject(new Error(`${name} exited with code ${child.exitCode} before listening:\n${stderr}`));
    });
  });
}

// ---------------------------------------------------------------------------------------------------
// Component processes (distributed mode): one process per component, or per group of components.
// ---------------------------------------------------------------------------------------------------

/** How a process ended. */
export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A src/main.ts process, from the moment it is spawned: not necessarily ready. */
export interface SpawnedService {
  /** A name for messages, e.g. `worker-a`. */
  readonly name: string;
  readonly child: ChildProcess;
  /** Everything the process wrote to stdout: one JSON log line per line. */
  readonly logs: LogCapture;
  /** Resolves when the process has exited. */
  readonly exited: Promise<ProcessExit>;
  /** Whether the process is still running. */
  readonly running: boolean;
  /** What the process wrote to stderr. */
  stderr(): string;
  /** Sends `signal` (SIGKILL, SIGTERM…) and returns at once. */
  signal(signal: NodeJS.Signals): void;
  /**
   * Stops the process if it runs: SIGTERM, then SIGKILL after `graceMs`; waits for it to exit.
   * Never throws; safe to call at any time, any number of times.
   */
  stop(graceMs?: number): Promise<void>;
  /** The first parsed log line that satisfies `predicate`, waiting up to `timeoutMs` for it; fails if the process exits first. */
  waitForLine(predicate: (line: LogLine) => boolean, timeoutMs: number, what?: string): Promise<LogLine>;
}

/** A component process that is ready: it serves its components over the transport. */
export interface ComponentProcess extends SpawnedService {
  /** Its HTTP base URL, when it runs the frontend. */
  readonly url: string | undefined;
  /** The instance ids its `serving …` line named (none for a frontend-only process). */
  readonly instanceIds: string[];
}

/** Every source process spawned here that still runs: killed if the test process exits first. */
const liveChildren = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of liveChildren) child.kill('SIGKILL');
});

/**
 * Spawns src/main.ts from its sources as its own process and returns at once, before it is ready (see
 * `untilServing`). Same defaults as `startFromSource`: a free loopback port, the mocker's delays off.
 */
export function spawnFromSource(name: string, env: NodeJS.ProcessEnv): SpawnedService {
  const child = spawnSource(env);
  liveChildren.add(child);
  const logs = new LogCapture();
  child.stdout!.pipe(logs);
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<ProcessExit>((resolve) => {
    child.once('exit', (code, signal) => {
      liveChildren.delete(child);
      resolve({ code, signal });
    });
  });
  const running = () => child.exitCode === null && child.signalCode === null;
  return {
    name,
    child,
    logs,
    exited,
    get running() {
      return running();
    },
    stderr: () => stderr,
    signal: (signal) => {
      if (running()) child.kill(signal);
    },
    stop: async (graceMs = 3000) => {
      if (!running()) return;
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(killer);
    },
    waitForLine: (predicate, timeoutMs, what = 'the expected log line') =>
      waitForLine(logs, predicate, {
        timeoutMs,
        what: `${name}: ${what}`,
        giveUp: () =>
          running()
            ? undefined
            : `${name} exited (code ${child.exitCode}, signal ${child.signalCode}); stderr:\n${tail(stderr)}\n`,
      }),
  };
}

/** The runtime's readiness line: `serving <instance ids>` (or `serving no components`), context Runtime. */
export function isServingLine(line: LogLine): boolean {
  return line.context === 'Runtime' && typeof line.msg === 'string' && line.msg.startsWith('serving ');
}

/** The instance ids a `serving …` line names. */
export function servedInstanceIds(line: LogLine): string[] {
  const list = String(line.msg).slice('serving '.length).trim();
  return list === 'no components' ? [] : list.split(/\s*,\s*/).filter(Boolean);
}

/** Whether a THREADLINE_COMPONENTS value makes the process run the HTTP frontend. */
export function runsFrontend(components: string | undefined): boolean {
  const names = (components ?? 'all').split(',').map((name) => name.trim());
  return names.includes('all') || names.includes('frontend');
}

/**
 * Waits until a spawned process serves its components: its `serving …` line (context Runtime) and, when
 * it runs the frontend, Fastify's "Server listening at" line too.
 */
export async function untilServing(
  service: SpawnedService,
  env: NodeJS.ProcessEnv,
  timeoutMs = 60_000,
): Promise<ComponentProcess> {
  const serving = await service.waitForLine(isServingLine, timeoutMs, 'the "serving …" line (context Runtime)');
  let url: string | undefined;
  if (runsFrontend(env.THREADLINE_COMPONENTS)) {
    const listening = await service.waitForLine(
      (line) => /Server listening at http:\/\/127\.0\.0\.1:\d+/.test(String(line.msg)),
      timeoutMs,
      'the "Server listening at" line',
    );
    url = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(String(listening.msg))![1];
  }
  const instanceIds = servedInstanceIds(serving);
  // The same object, ready now: whoever holds the spawned handle (to stop it) holds this one.
  return Object.assign(service, { url, instanceIds });
}

/** `spawnFromSource` then `untilServing`; a process that does not get ready is stopped before this throws. */
export async function startComponentsFromSource(
  name: string,
  env: NodeJS.ProcessEnv,
  timeoutMs = 60_000,
): Promise<ComponentProcess> {
  const service = spawnFromSource(name, env);
  try {
    return await untilServing(service, env, timeoutMs);
  } catch (error) {
    await service.stop(1000);
    throw error;
  }
}
