/**
 * `@threadline/tracing` as it was before it made spans: the reference of the "export off" goal, which
 * holds today's package, with no span recorder registered, to the instructions per request of the one
 * that had no spans at all. Built from git into dist-bench, beside the benchmarks, where its imports
 * resolve to this checkout's node_modules.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';

/** The last commit before spans came to the tracing package. */
export const TRACING_BEFORE_SPANS_COMMIT = '86e7566246c01d65b9ae91995acd555d536e76e8';

const ROOT = new URL('../../../', import.meta.url).pathname;
const BUILD_DIR = new URL('../../tracing-before-spans/', import.meta.url).pathname;

/** The built package's entry point, where `buildTracingBeforeSpans()` puts it. */
export const TRACING_BEFORE_SPANS_ENTRY = `${BUILD_DIR}packages/tracing/dist/index.js`;

/**
 * Builds the package at TRACING_BEFORE_SPANS_COMMIT (its sources and the base tsconfig it extends,
 * emitted without a type check: today's dependencies' types need not fit it). Undefined when built;
 * otherwise why it cannot be (no git history with that commit, as in a shallow clone).
 */
export function buildTracingBeforeSpans(): string | undefined {
  let archive: Buffer;
  try {
    archive = execFileSync(
      'git',
      ['-C', ROOT, 'archive', '--format=tar', TRACING_BEFORE_SPANS_COMMIT, 'packages/tracing', 'tsconfig.base.json'],
      { stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 2 ** 20 },
    );
  } catch (error) {
    return `git cannot give commit ${TRACING_BEFORE_SPANS_COMMIT} here (${(error as Error).message.split('\n')[0]})`;
  }
  rmSync(BUILD_DIR, { recursive: true, force: true });
  mkdirSync(BUILD_DIR, { recursive: true });
  execFileSync('tar', ['-x', '-C', BUILD_DIR], { input: archive });
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  execFileSync(
    process.execPath,
    [
      tsc,
      '-p',
      `${BUILD_DIR}packages/tracing/tsconfig.json`,
      '--noCheck',
      '--composite',
      'false',
      '--declaration',
      'false',
      '--declarationMap',
      'false',
      '--sourceMap',
      'false',
      '--incremental',
      'false',
    ],
    { stdio: 'inherit' },
  );
  if (!existsSync(TRACING_BEFORE_SPANS_ENTRY)) return `the build left no ${TRACING_BEFORE_SPANS_ENTRY}`;
  return undefined;
}
