import { writeFileSync } from 'node:fs';
import { machineSummary } from './machine.js';

/**
 * Prints a benchmark's markdown report, ending it with the machine and the command that made it, and
 * writes it to bench/results/<name>.md (from the compiled copy too, which runs in dist-bench/).
 */
export function publishReport(name: string, command: string, lines: readonly string[]): void {
  const report = [...lines, '', `Machine: ${machineSummary()}. Command: \`${command}\`.`, ''].join('\n');
  console.log(report);
  writeFileSync(new URL(`./results/${name}.md`, new URL('..', import.meta.url).href.replace('/dist-bench/bench/', '/bench/')), report);
}
