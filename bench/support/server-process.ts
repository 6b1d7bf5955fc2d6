import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

export interface ServerProcess {
  child: ChildProcess;
  port: number;
  /** CPU time (user + system) the process has used, in microseconds, from /proc. */
  cpuMicros(): number;
  /** The same, of its main thread alone (the JavaScript's; not V8's or libuv's helper threads). */
  mainThreadCpuMicros(): number;
  stop(): Promise<void>;
}

const TICKS_PER_SECOND = 100; // USER_HZ, 100 on Linux

/**
 * Starts `node <nodeArgs…> <script> <args…>` and waits for its `READY <port>` line; on CPU `cpu` only,
 * when given (see cpu-pinning.ts).
 */
export function startServerProcess(
  script: string,
  args: string[],
  env: NodeJS.ProcessEnv = {},
  nodeArgs: string[] = [],
  cpu?: number,
): Promise<ServerProcess> {
  const command = [process.execPath, ...nodeArgs, script, ...args];
  const [file, ...argv] = cpu === undefined ? command : ['taskset', '-c', String(cpu), ...command];
  const child = spawn(file!, argv, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /READY (\d+)/.exec(out);
      if (match) {
        resolve({
          child,
          port: Number(match[1]),
          cpuMicros: () => cpuMicros(child.pid!),
          mainThreadCpuMicros: () => cpuMicros(child.pid!, child.pid),
          stop: () =>
            new Promise<void>((done) => {
              child.once('exit', () => done());
              child.kill('SIGKILL');
            }),
        });
      }
    });
    child.once('exit', (code) =>
      reject(new Error(`${script} ${args.join(' ')} exited with ${code} before it was ready`)),
    );
  });
}

/**
 * CPU time process `pid`'s live threads have used, in microseconds, to the nanosecond the scheduler
 * keeps (/proc/<pid>/task/<tid>/schedstat), where `cpuMicros` counts in clock ticks of 10 ms: for
 * stretches of tens of milliseconds. Threads that have ended are not counted.
 */
export function threadsCpuMicros(pid: number): number {
  let nanos = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      nanos += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return nanos / 1000;
}

/** CPU time (user + system) process `pid` has used, in microseconds; of its thread `tid` alone when given. */
export function cpuMicros(pid: number, tid?: number): number {
  const stat = readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 of /proc/<pid>/stat (utime, stime), counted from after the command name.
  return ((Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND) * 1e6;
}
