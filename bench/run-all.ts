/**
 * `npm run bench` (`-- --quick` for a short pass): every benchmark, one after another, each in its own
 * process, then bench/results.md gathers their tables. `-- --collect` only gathers the latest tables
 * (after running some benchmarks alone). The quick pass leaves out the instruction counts, which take
 * minutes under valgrind however few requests they count, and keeps their latest table. A table this pass
 * did not make (that one, or one a benchmark's run did not replace, as bench:instructions' without
 * valgrind) is labelled reused, with the date of the run that made it, in the header and in its section.
 * Benchmarks are not tests: nothing here passes or fails on a number.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { machineSummary } from './support/machine.js';
import { labelReused, runDate } from './support/report.js';

const BENCHMARKS = [
  'http-overhead',
  'http-instructions',
  'depends-hop',
  'streaming',
  'nats',
  'memory',
  'kv-routing',
  'hostile',
  'observability',
];
const SLOW = new Set(['http-instructions']);
const quick = process.argv.includes('--quick');
const collectOnly = process.argv.includes('--collect');
const here = new URL('.', import.meta.url).pathname;
const results = new URL('./results/', import.meta.url.replace('/dist-bench/bench/', '/bench/')).pathname;

const sections: string[] = [];
/** "name (run of date)" of every section this pass copied from an earlier run instead of making. */
const reused: string[] = [];
function reuse(name: string, why: string): void {
  const file = `${results}${name}.md`;
  if (!existsSync(file)) {
    sections.push(`### ${name}\n\nNo result: this pass did not run it (${why}) and no earlier run left one.\n`);
    return;
  }
  const section = readFileSync(file, 'utf8');
  const date = runDate(section) ?? 'an unknown date';
  reused.push(`${name} (run of ${date}: ${why})`);
  sections.push(labelReused(section, why));
  console.error(`\n== ${name}: reused from the run of ${date}, not rerun (${why})`);
}

for (const name of BENCHMARKS) {
  if (collectOnly) {
    reuse(name, 'gathered by `--collect`');
    continue;
  }
  if (quick && SLOW.has(name)) {
    reuse(name, 'the quick pass leaves it out');
    continue;
  }
  console.error(`\n== ${name}`);
  const started = Date.now();
  const run = spawnSync(process.execPath, [`${here}${name}.bench.js`, ...(quick ? ['--quick'] : [])], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (run.status !== 0) {
    sections.push(`### ${name}\n\nThis run failed (exit ${run.status}); see its output.\n`);
    continue;
  }
  // A benchmark that cannot run here (bench:instructions without valgrind) exits 0 and writes nothing.
  const file = `${results}${name}.md`;
  if (!existsSync(file) || statSync(file).mtimeMs < started) {
    reuse(name, "its run in this pass wrote no new table; see that run's output");
    continue;
  }
  sections.push(readFileSync(file, 'utf8'));
}
const report = [
  '# Benchmark results',
  '',
  collectOnly
    ? 'Gathered from the latest run of each benchmark; each section says what it measured, how, where and with which command.'
    : `Made by \`npm run bench${quick ? ' -- --quick' : ''}\` on ${machineSummary()}. Each section says what it measured and how.`,
  '',
  ...(reused.length === 0 || collectOnly
    ? []
    : [`Reused from earlier runs, not rerun by this pass (each such section says so too): ${reused.join('; ')}.`, '']),
  ...sections,
].join('\n');
writeFileSync(`${results}../results.md`, report);
console.error(`\nwrote bench/results.md`);
