import { execFileSync } from 'node:child_process';
import { availableParallelism } from 'node:os';

/**
 * Keeps servers and the load generator on CPUs of their own (Linux, `taskset`, two CPUs or more):
 * this process, which runs autocannon, on the first CPU, every server it starts on the last, so that
 * no sample depends on whether the scheduler happened to put a server beside the load generator.
 * It removes that one cause of noise, not the others: in one full run each, two processes of the same
 * plain Nest server still came out 7 to 9 % apart unpinned and 5 to 7 % apart pinned (the `nest-again`
 * row of bench:http).
 *
 * Returns the CPU for servers, or `undefined` where pinning is not possible (nothing is changed then).
 */
export function pinLoadGeneratorAwayFromServers(): number | undefined {
  const cpus = availableParallelism();
  if (process.platform !== 'linux' || cpus < 2) return undefined;
  try {
    // -a: every thread of this process (libuv's pool, V8's helpers) as well as the main one.
    execFileSync('taskset', ['-a', '-p', '-c', '0', String(process.pid)], { stdio: 'ignore' });
    return cpus - 1;
  } catch {
    return undefined; // no taskset on this machine
  }
}
