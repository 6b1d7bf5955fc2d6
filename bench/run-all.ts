/**
 * `npm run bench` (`-- --quick` for a short pass): every benchmark, one after another, each in its own
 * process, then bench/results.md gathers their tables. `-- --collect` only gathers the latest tables
 * (after running some benchmarks alone). The quick pass leaves out the instruction counts, which take
 * minutes under valgrind however few requests they count, and keeps their latest table. Benchmarks are
 * not tests: nothing here passes or fails on a number.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { machineSummary } from './support/machine.js';

const BENCHMARKS = ['http-overhead', 'http-instructions', 'depends-hop', 'streaming', 'nats', 'memory', 'kv-routing', 'hostile'];
const SLOW = new Set(['http-instructions']);
const quick = process.argv.includes('--quick');
const collectOnly = process.argv.includes('--collect');
const here = new URL('.', import.meta.url).pathname;
const results = new URL('./results/', import.meta.url.replace('/dist-bench/bench/', '/bench/')).pathname;

const sections: string[] = [];
for (const name of BENCHMARKS) {
  if (collectOnly || (quick && SLOW.has(name))) {
    sections.push(readFileSync(`${results}${name}.md`, 'utf8'));
    continue;
  }
  console.error(`\n== ${name}`);
  const run = spawnSync(process.execPath, [`${here}${name}.bench.js`, ...(quick ? ['--quick'] : [])], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (run.status !== 0) {
    sections.push(`### ${name}\n\nThis run failed (exit ${run.status}); see its output.\n`);
    continue;
  }
  sections.push(readFileSync(`${results}${name}.md`, 'utf8'));
}
const report = [
  '# Benchmark results',
  '',
  collectOnly
    ? 'Gathered from the latest run of each benchmark; each section says what it measured, how, where and with which command.'
    : `Made by \`npm run bench${quick ? ' -- --quick' : ''}\` on ${machineSummary()}. Each section says what it measured and how.`,
  '',
  ...sections,
].join('\n');
writeFileSync(`${results}../results.md`, report);
console.error(`\nwrote bench/results.md`);
