import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { LogCapture } from '../../support/log-capture.js';
import { childEnv } from './run-command.js';

export interface RunningApp {
  /** `http://127.0.0.1:<port>`, from the app's "listening on" line. */
  url: string;
  /** Everything the app wrote to stdout: one JSON log line per line. */
  logs: LogCapture;
  stderr(): string;
  stop(): Promise<void>;
}

const LISTENING = /listening on (http:\/\/127\.0\.0\.1:\d+)/;

/** Apps still running: killed if the test process exits without stopping them. */
const liveChildren = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of liveChildren) child.kill('SIGKILL');
});

/** Starts `node dist/main.js` in a built consumer app on a free port, and waits for its "listening on" line. */
export function startConsumerApp(dir: string, timeoutMs = 30_000): Promise<RunningApp> {
  const child = spawn(process.execPath, [join('dist', 'main.js')], {
    cwd: dir,
    env: childEnv({ PORT: '0' }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs = new LogCapture();
  child.stdout.pipe(logs);
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  liveChildren.add(child);
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      liveChildren.delete(child);
      resolve();
    }),
  );
  const stop = () => stopChild(child, exited);
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = () => {
      settled = true;
      clearInterval(poll);
      clearTimeout(timer);
    };
    const fail = (reason: string) => {
      if (settled) return;
      settle();
      void stop();
      reject(new Error(`${dir}: ${reason}\nstderr:\n${stderr}\nstdout:\n${logs.raw.join('\n')}`));
    };
    const poll = setInterval(() => {
      const url = logs.raw.map((line) => LISTENING.exec(line)?.[1]).find((match) => match !== undefined);
      if (url === undefined) return;
      settle();
      resolve({ url, logs, stderr: () => stderr, stop });
    }, 20);
    const timer = setTimeout(() => fail(`no "listening on" line within ${timeoutMs} ms`), timeoutMs);
    void exited.then(() => fail(`exited with code ${child.exitCode} before listening`));
  });
}

async function stopChild(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(killer);
}
