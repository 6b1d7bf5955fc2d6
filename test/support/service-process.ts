import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { LogCapture } from './log-capture.js';

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
  const child = spawn('npm', ['run', '--silent', script], { cwd: ROOT, env: { ...process.env, ...env }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  return untilListening(child, `npm ${script}`, () => process.kill(-child.pid!, 'SIGTERM'), timeoutMs);
}

/**
 * Runs the service from its TypeScript sources (src/main.ts) as its own process, on a free loopback
 * port, with the mocker's delays off unless `env` sets them.
 */
export function startFromSource(env: NodeJS.ProcessEnv, timeoutMs = 60_000): Promise<ServiceProcess> {
  const child = spawn(process.execPath, ['--import', `${ROOT}test/support/ts-register.mjs`, `${ROOT}src/main.ts`], {
    cwd: ROOT,
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', MOCKER_PREFILL_US_PER_TOKEN: '0', MOCKER_DECODE_MS_PER_TOKEN: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return untilListening(child, 'src/main.ts', () => child.kill('SIGTERM'), timeoutMs);
}

function untilListening(child: ChildProcess, name: string, terminate: () => void, timeoutMs: number): Promise<ServiceProcess> {
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
      const match = logs.raw.map((line) => /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(line)).find((m) => m !== null);
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
