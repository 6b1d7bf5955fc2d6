import { spawn } from 'node:child_process';
import { dirname } from 'node:path';

export interface CommandOptions {
  cwd: string;
  timeoutMs: number;
  env?: NodeJS.ProcessEnv;
}

/**
 * The environment for a child command: `node` on its PATH is the one running the tests (Node 24 here,
 * also for `npm`, whose script starts with `#!/usr/bin/env node`).
 */
export function childEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`,
    ...extra,
  };
  // Set when the tests themselves run under `npm run` / `npx`; they would aim the child npm at this repository.
  for (const name of Object.keys(env)) {
    if (
      /^npm_(package_|lifecycle_|config_(workspaces?|include_workspace_root|prefix|global|local_prefix)$)/i.test(name)
    )
      delete env[name];
  }
  return env;
}

/** Runs `command args` to completion; resolves with its stdout, rejects with its whole output when it fails. */
export function runCommand(command: string, args: string[], options: CommandOptions): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? childEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(stdout);
      else {
        const how =
          signal === null
            ? `exited with code ${code}`
            : `was killed (${signal}) after ${options.timeoutMs} ms or by a signal`;
        reject(new Error(`\`${[command, ...args].join(' ')}\` in ${options.cwd} ${how}:\n${stdout}\n${stderr}`));
      }
    });
  });
}
