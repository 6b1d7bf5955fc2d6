import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createConnection, createServer } from 'node:net';
import { delimiter, join } from 'node:path';
import { describe, it } from 'vitest';

/**
 * A real `nats-server` for the tests, on a loopback port of its own. The binary is the one on PATH
 * (Debian's `nats-server` package installs it in /usr/sbin, which is not on every user's PATH, so the
 * sbin directories are looked in too); `NATS_SERVER_BIN` names another one.
 */
export interface NatsServer {
  /** `nats://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** Whether the server process is running now. */
  readonly running: boolean;
  /** What the server wrote to stderr (its log), across restarts. */
  log(): string;
  /** Stops the server (SIGTERM, SIGKILL after 2 s) and waits for it to exit. Does nothing if it is stopped. */
  stop(): Promise<void>;
  /** Starts the server again on the same port (stopping it first if it runs) and waits until it accepts connections. */
  restart(): Promise<void>;
  /** Sends the server process a signal: `SIGSTOP` stalls it with its connections open, `SIGCONT` resumes it. */
  signal(name: NodeJS.Signals): void;
}

export interface NatsServerAvailability {
  available: boolean;
  /** Why not, when it is not. */
  reason?: string;
  /** The binary, when it is. */
  binary?: string;
  /** What `nats-server --version` printed, when it is. */
  version?: string;
}

const EXTRA_DIRS = ['/usr/sbin', '/usr/local/sbin', '/sbin'];
const READY_TIMEOUT_MS = 10_000;

let availability: NatsServerAvailability | undefined;

/** Whether a nats-server binary can be run here, and if not, why. Checked once per process. */
export function natsServerAvailability(): NatsServerAvailability {
  availability ??= probeNatsServer();
  return availability;
}

/** The uncached check behind `natsServerAvailability`, against the given environment (PATH, NATS_SERVER_BIN). */
export function probeNatsServer(env: NodeJS.ProcessEnv = process.env): NatsServerAvailability {
  const override = env.NATS_SERVER_BIN;
  const candidates = override
    ? [override]
    : [...(env.PATH ?? '').split(delimiter).filter(Boolean), ...EXTRA_DIRS].map((dir) => join(dir, 'nats-server'));
  const binary = candidates.find((file) => {
    try {
      accessSync(file, constants.X_OK);
      return statSync(file).isFile();
    } catch {
      return false;
    }
  });
  if (binary === undefined) {
    return {
      available: false,
      reason: override
        ? `NATS_SERVER_BIN=${override} is not an executable file`
        : `nats-server was not found on PATH nor in ${EXTRA_DIRS.join(', ')} (install it, e.g. \`apt-get install nats-server\`, or set NATS_SERVER_BIN)`,
    };
  }
  const probe = spawnSync(binary, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  if (probe.error !== undefined || probe.status !== 0) {
    const why = probe.error?.message ?? `exit code ${probe.status}: ${(probe.stderr || probe.stdout).trim()}`;
    return { available: false, reason: `${binary} --version failed (${why})` };
  }
  return { available: true, binary, version: (probe.stdout || probe.stderr).trim() };
}

let warned = false;

/**
 * `describe(name, fn)` when nats-server is available. Otherwise the suite is skipped, with the reason in
 * its name and in one console warning, unless THREADLINE_REQUIRE_NATS=1 (as in CI): then the suite is one
 * failing test that says nats-server is missing.
 */
export function describeWithNats(name: string, fn: () => void): void {
  const { available, reason } = natsServerAvailability();
  if (available) {
    describe(name, fn);
    return;
  }
  if (process.env.THREADLINE_REQUIRE_NATS === '1') {
    describe(name, () => {
      it('needs nats-server', () => {
        throw new Error(`nats-server is missing and THREADLINE_REQUIRE_NATS=1: ${reason}`);
      });
    });
    return;
  }
  if (!warned) {
    warned = true;
    console.warn(
      `[threadline] skipping the NATS tests: ${reason}. Set THREADLINE_REQUIRE_NATS=1 to make this a failure.`,
    );
  }
  describe.skip(`${name} (skipped: ${reason})`, fn);
}

/** A TCP port on 127.0.0.1 that nothing listens on at the moment of the call. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Every nats-server these helpers started and that still runs: killed if the test process exits first. */
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/**
 * Starts nats-server on a free loopback port (or on `options.port`) and waits until it accepts
 * connections and greets with its INFO line. `maxPayload` sets its `max_payload` (1 MiB by default),
 * through a config file: the server has no flag for it. With `auth`, a client must give that user and
 * password (its `url` holds neither).
 */
export async function startNatsServer(
  options: { port?: number; maxPayload?: number; auth?: { user: string; password: string } } = {},
): Promise<NatsServer> {
  const { available, reason, binary } = natsServerAvailability();
  if (!available) throw new Error(`cannot start nats-server: ${reason}`);
  const port = options.port ?? (await freePort());
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let stderr = '';

  const start = async (): Promise<void> => {
    const auth = options.auth === undefined ? [] : ['--user', options.auth.user, '--pass', options.auth.password];
    const proc = spawn(binary!, ['-a', '127.0.0.1', '-p', String(port), ...auth, ...configArgs(options.maxPayload)], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    child = proc;
    live.add(proc);
    const logFrom = stderr.length;
    proc.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    let exitedEarly = false;
    exited = new Promise<void>((resolve) => {
      proc.once('exit', () => {
        live.delete(proc);
        exitedEarly = true;
        resolve();
      });
      proc.once('error', (error) => {
        stderr += `\nspawn error: ${error.message}`;
        live.delete(proc);
        exitedEarly = true;
        resolve();
      });
    });
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      if (exitedEarly)
        throw new Error(`nats-server on port ${port} exited during start-up (code ${proc.exitCode}):\n${stderr}`);
      // The greeting must come from this process (its INFO names the server id it logged), not from
      // another server that holds the port: that one would make this one exit with "address already in use".
      const serverId = /\[INF\]\s+ID:\s+(\S+)/.exec(stderr.slice(logFrom))?.[1];
      if (serverId !== undefined && (await greets(port)) === serverId) return;
      if (Date.now() > deadline) {
        await stop();
        throw new Error(
          `nats-server on port ${port} did not accept connections within ${READY_TIMEOUT_MS} ms:\n${stderr}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  };

  const stop = async (): Promise<void> => {
    const proc = child;
    // Not started, or already gone.
    if (proc?.exitCode !== null || proc.signalCode !== null) return;
    proc.kill('SIGTERM');
    const killer = setTimeout(() => proc.kill('SIGKILL'), 2000);
    await exited;
    clearTimeout(killer);
  };

  await start();
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    get running() {
      return child?.exitCode === null && child.signalCode === null;
    },
    log: () => stderr,
    stop,
    signal: (name) => void child?.kill(name),
    restart: async () => {
      await stop();
      await start();
    },
  };
}

function configArgs(maxPayload: number | undefined): string[] {
  if (maxPayload === undefined) return [];
  const file = join(mkdtempSync(join(tmpdir(), 'threadline-nats-')), 'nats.conf');
  writeFileSync(file, `max_payload: ${maxPayload}\n`);
  return ['-c', file];
}

/** The `server_id` of the NATS server that greets on the port with its `INFO` line, if one does. */
function greets(port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let received = '';
    const done = (serverId: string | undefined) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(serverId);
    };
    const timer = setTimeout(() => done(undefined), 1000);
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString();
      const newline = received.indexOf('\r\n');
      if (newline === -1) return;
      const line = received.slice(0, newline);
      try {
        done(
          line.startsWith('INFO ')
            ? String((JSON.parse(line.slice(5)) as { server_id?: unknown }).server_id)
            : undefined,
        );
      } catch {
        done(undefined);
      }
    });
    socket.on('error', () => done(undefined));
    socket.on('close', () => done(undefined));
  });
}
