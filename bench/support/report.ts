import { writeFileSync } from 'node:fs';
import { machineSummary } from './machine.js';

/**
 * Prints a benchmark's markdown report, ending it with the machine and the command that made it, and
 * writes it to bench/results/<name>.md (from the compiled copy too, which runs in dist-bench/).
 */
export function publishReport(name: string, command: string, lines: readonly string[]): void {
  const report = [...lines, '', `Machine: ${machineSummary()}. Command: \`${command}\`.`, ''].join('\n');
  console.log(report);
  writeFileSync(
    new URL(`./results/${name}.md`, new URL('..', import.meta.url).href.replace('/dist-bench/bench/', '/bench/')),
    report,
  );
}

/**
 * The sentence under every table that states a figure per round: what the brackets are and when a
 * verdict says "within noise" (the helpers of stats.ts). `paired` says what a ratio or difference is taken over.
 */
export function spreadNote(rounds: number, paired?: string): string {
  if (rounds < 2)
    return 'One round only: no figure has a spread, so every comparison and goal is marked "one round" and shows no more than that round did.';
  return (
    `Each figure is the median of the ${rounds} rounds with the lowest and highest round in brackets, [min to max]` +
    (paired === undefined ? '' : `; ${paired}`) +
    '. A difference or a goal is stated only where every round agrees on it: where the range reaches across it ' +
    '(1.00 for a ratio, 0 for a difference, the goal itself for a goal), the table says "within noise".'
  );
}

/** The date (YYYY-MM-DD) of the run that wrote a section, from the Machine line publishReport ends it with. */
export function runDate(section: string): string | undefined {
  return /^Machine: .*, (\d{4}-\d{2}-\d{2})\. Command: /m.exec(section)?.[1];
}

/**
 * A section that an earlier run wrote and this pass only copies, labelled so under its heading with that
 * run's date and why it was not rerun, so that the date of the pass that copies it is never taken for its own.
 */
export function labelReused(section: string, why: string): string {
  const lines = section.split('\n');
  const heading = lines.findIndex((line) => line.startsWith('### '));
  const label = `**Reused, not rerun: from the run of ${runDate(section) ?? 'an unknown date'}** (${why}).`;
  lines.splice(heading + 1, 0, '', label);
  return lines.join('\n');
}
