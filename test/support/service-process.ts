import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';

export interface ServiceProcess {
  child: ChildProcess;
  url: string;
  /** Every line the process wrote to stdout so far. */
  lines: string[];
  stop(): Promise<void>;
}

/**
 * Runs `npm <script>` in the project root as its own process group (so that stopping it also stops
 * the `node` it starts), and waits for Fastify's "Server listening at" line. Use PORT=0 for a free port.
 */
export function startServiceProcess(script: string, env: NodeJS.ProcessEnv, timeoutMs = 90_000): Promise<ServiceProcess> {
  const child = spawn('npm', ['run', '--silent', script], {
    cwd: new URL('../..', import.meta.url).pathname,
    env: { ...process.env, ...env },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let stderr = '';
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      process.kill(-child.pid!, 'SIGTERM');
    });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`npm ${script} did not start listening within ${timeoutMs} ms:\n${stderr}`));
    }, timeoutMs);
    let buffered = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const parts = buffered.split('\n');
      buffered = parts.pop() ?? '';
      for (const line of parts) {
        lines.push(line);
        const match = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(line);
        if (match) {
          clearTimeout(timer);
          resolve({ child, url: match[1]!, lines, stop });
        }
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`npm ${script} exited with code ${code} before listening:\n${stderr}`));
    });
  });
}
