import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { annotatedCounts, writeFunctionTable } from './callgrind-functions.js';

/** Instructions counted per unit of work (a request, say), every thread's. */
export interface InstructionCount {
  total: number;
  /**
   * Of `total`, what V8's runtime spent defining the properties of object literals one by one, with all
   * it calls (`Runtime_DefineKeyedOwnPropertyInLiteral`, inclusive). Some fresh processes, of any server,
   * plain Nest too, run Node's `process.nextTick` optimised with that call in place of the inline path:
   * it makes each tick's object through the runtime, at a cost that dwarfs a request id's. Which
   * processes do is not up to the server's code; the others count almost none here.
   */
  slowLiterals: number;
  /**
   * Of `total`, what V8's optimising compilers (TurboFan, Maglev) spent compiling while counting was on,
   * on their threads and on the main one: `OptimizedCompilationJob::ExecuteJob` and `::FinalizeJob`,
   * inclusive. Which functions a fresh process compiles inside the counted window is its compilers'
   * timing, not the server's steady cost: it moves from one fresh process of a server to the next
   * (bench/README.md, "Steady state").
   */
  compiling: number;
}

/** The V8 runtime function whose inclusive count is `InstructionCount.slowLiterals`. */
const SLOW_LITERALS_FUNCTION = 'v8::internal::Runtime_DefineKeyedOwnPropertyInLiteral(';
/** The functions whose inclusive counts make `InstructionCount.compiling`: neither calls the other. */
const COMPILING_FUNCTIONS = [
  'v8::internal::OptimizedCompilationJob::ExecuteJob(',
  'v8::internal::OptimizedCompilationJob::FinalizeJob(',
];

/**
 * A server in a fresh process under valgrind's callgrind, which counts the instructions it executes
 * (every thread's) whatever else the machine is doing: counting is off until `count()` turns it on.
 */
export interface CallgrindServer {
  port: number;
  /**
   * Runs `work` with counting on and returns the instructions counted per `per` (what `work` served),
   * from one dump taken at its end. `keepDumps` also writes the dump's table by function.
   */
  count(work: () => Promise<void>, per: number): Promise<InstructionCount>;
  /** Kills the process; the dumps go with it unless they are kept. */
  stop(): void;
}

/** The size of each semi-space of V8's young generation a server reaches under load (Node 24, 64-bit). */
export const SEMI_SPACE_MIB = 16;

/** Whether valgrind is installed. */
export function hasValgrind(): boolean {
  return spawnSync('valgrind', ['--version']).status === 0;
}

/**
 * Starts `node <script> <args…>` under callgrind (on CPU `cpu` only, when given) and waits for its
 * `READY <port>` line. With
 * `keepDumps`, callgrind's files stay in a directory named on stderr, with a table of instructions per
 * request by function (JavaScript named, from V8's perf map).
 */
export async function startUnderCallgrind(
  script: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; nodeArgs?: string[]; keepDumps?: boolean; label: string; cpu?: number },
): Promise<CallgrindServer> {
  const dir = mkdtempSync(join(tmpdir(), 'threadline-callgrind-'));
  // taskset runs valgrind in its own process (exec), so the pid is valgrind's, for callgrind_control.
  const [command, ...pinning] =
    options.cpu === undefined ? ['valgrind'] : ['taskset', '-c', String(options.cpu), 'valgrind'];
  const child = spawn(
    command,
    [
      ...pinning,
      '--tool=callgrind',
      '--instr-atstart=no',
      `--callgrind-out-file=${join(dir, 'out')}`,
      process.execPath,
      // The young generation at the size V8 gives it within a server's first thousands of requests
      // outside valgrind. Under valgrind V8 leaves it at 1 or 2 MiB in some fresh processes and not in
      // others, whatever the server: those collect eight times as often, and count some 6,000 more
      // instructions a request that the server does not cost.
      `--min-semi-space-size=${SEMI_SPACE_MIB}`,
      // V8's perf map names the JavaScript it compiles, for the dump's table by function (the log
      // V8 writes beside it goes with the dumps, not into the working directory).
      ...(options.keepDumps
        ? ['--perf-basic-prof', '--no-logfile-per-isolate', `--logfile=${join(dir, 'v8.log')}`]
        : []),
      ...(options.nodeArgs ?? []),
      script,
      ...args,
    ],
    { env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'ignore'] },
  );
  const stop = () => {
    child.kill('SIGKILL');
    if (options.keepDumps) console.error(`callgrind files of ${options.label} kept in ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  };
  try {
    const port = await new Promise<number>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const match = /READY (\d+)/.exec(out);
        if (match) resolve(Number(match[1]));
      });
      child.once('exit', (code) => reject(new Error(`${options.label} exited with ${code} before it was ready`)));
    });
    return {
      port,
      stop,
      count: async (work, per) => {
        execFileSync('callgrind_control', ['--instr=on', String(child.pid)], { stdio: 'ignore' });
        await work();
        execFileSync('callgrind_control', ['--dump', String(child.pid)], { stdio: 'ignore' });
        execFileSync('callgrind_control', ['--instr=off', String(child.pid)], { stdio: 'ignore' });
        const dumps = readdirSync(dir)
          .filter((name) => /^out\.\d+$/.test(name))
          .sort((a, b) => Number(a.slice(4)) - Number(b.slice(4)))
          .map((name) => join(dir, name));
        const dump = dumps.at(-1)!;
        // `totals:` is the dump's own count; its `summary:` line can be wrong in a process with threads.
        const total = Number(/^totals: (\d+)/m.exec(readFileSync(dump, 'utf8'))?.[1] ?? Number.NaN);
        if (options.keepDumps)
          console.error(`by function (${options.label}): ${writeFunctionTable(dump, child.pid!, per, dir)}`);
        const inclusive = annotatedCounts(dump, true);
        const compiling = COMPILING_FUNCTIONS.reduce((sum, name) => sum + inclusiveCount(inclusive, name), 0);
        return {
          total: total / per,
          slowLiterals: inclusiveCount(inclusive, SLOW_LITERALS_FUNCTION) / per,
          compiling: compiling / per,
        };
      },
    };
  } catch (error) {
    stop();
    throw error;
  }
}

/** The instructions of the function whose name starts with `name`, with all it called, of a dump's `inclusive` counts (0 if it never ran). */
function inclusiveCount(inclusive: ReadonlyArray<[name: string, count: number]>, name: string): number {
  return inclusive.find(([annotated]) => annotated.replace(/^\?\?\?:/, '').startsWith(name))?.[1] ?? 0;
}
