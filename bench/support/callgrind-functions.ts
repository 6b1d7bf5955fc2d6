/**
 * Instructions per request by function, from a callgrind dump of a Node process started with
 * `--perf-basic-prof`. Callgrind knows Node's and V8's own functions by name, but the JavaScript V8
 * compiled at run time only by address (`???:0x2813e980`); V8's perf map (`/tmp/perf-<pid>.map`) names
 * each address range, so the two together say which JavaScript function the instructions went to.
 * Written beside the dump as `functions.tsv` (instructions per request, then the function, the most
 * first), for comparing two servers line by line.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';

type CodeRange = [start: number, size: number, name: string];

/** The code ranges of V8's perf map for `pid`, sorted by address. */
function perfMap(pid: number): CodeRange[] {
  return readFileSync(`/tmp/perf-${pid}.map`, 'utf8')
    .trim()
    .split('\n')
    .map((line): CodeRange => {
      const [start, size, ...name] = line.split(' ');
      return [parseInt(start!, 16), parseInt(size!, 16), name.join(' ')];
    })
    .sort((a, b) => a[0] - b[0]);
}

/** The name of the range holding `address`, by binary search. */
function nameAt(ranges: readonly CodeRange[], address: number): string | undefined {
  let low = 0;
  let high = ranges.length - 1;
  let found: CodeRange | undefined;
  while (low <= high) {
    const middle = (low + high) >> 1;
    if (ranges[middle]![0] <= address) {
      found = ranges[middle];
      low = middle + 1;
    } else high = middle - 1;
  }
  return found !== undefined && address < found[0] + found[1] ? found[2] : undefined;
}

/**
 * Every function of `dump` with its count, as `callgrind_annotate` names it (`???:` for what it has no
 * file for, a JavaScript function as `???:0x<address>`): its own instructions, or with all it called
 * when `inclusive`.
 */
export function annotatedCounts(dump: string, inclusive: boolean): Array<[name: string, count: number]> {
  const annotated = execFileSync(
    'callgrind_annotate',
    ['--threshold=100', `--inclusive=${inclusive ? 'yes' : 'no'}`, dump],
    {
      maxBuffer: 1 << 28,
    },
  ).toString();
  const counts: Array<[string, number]> = [];
  for (const line of annotated.split('\n')) {
    const match = /^\s*([\d,]+)\s+(?:\([^)]*\)\s+)?(.*)$/.exec(line);
    if (match !== null && !match[2]!.startsWith('PROGRAM TOTALS'))
      counts.push([match[2]!, Number(match[1]!.replace(/,/g, ''))]);
  }
  return counts;
}

/** Writes `<dir>/functions.tsv` for `dump` of process `pid`, `requests` requests counted; returns its path. */
export function writeFunctionTable(dump: string, pid: number, requests: number, dir: string): string {
  const ranges = perfMap(pid);
  const perFunction = new Map<string, number>();
  for (const [annotatedName, count] of annotatedCounts(dump, false)) {
    const address = /\?\?\?:0x([0-9a-f]+)/.exec(annotatedName);
    const name = ((address && nameAt(ranges, parseInt(address[1]!, 16))) ?? annotatedName)
      .replace(/\s*\[[^\]]*\]$/, '')
      .replace(/^\?\?\?:/, '');
    perFunction.set(name, (perFunction.get(name) ?? 0) + count);
  }
  const rows = [...perFunction]
    .sort((a, b) => b[1] - a[1])
    .map(([name, count]) => `${(count / requests).toFixed(1)}\t${name}`);
  const path = `${dir}/functions.tsv`;
  writeFileSync(path, `${rows.join('\n')}\n`);
  return path;
}
