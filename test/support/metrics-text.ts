/**
 * Reading a Prometheus or OpenMetrics text exposition in tests: its samples, with their labels and
 * (OpenMetrics) exemplars, and sums over them.
 */

export interface Sample {
  /** The sample's name, e.g. `threadline_time_to_first_token_seconds_count`. */
  name: string;
  labels: Record<string, string>;
  value: number;
  exemplar?: { labels: Record<string, string>; value: number };
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*?)\})? (\S+)(?: \S+)?(?: # \{(.*?)\} (\S+)(?: \S+)?)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

function labelsOf(text: string | undefined): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const match of (text ?? '').matchAll(LABEL)) labels[match[1]!] = match[2]!.replace(/\\(.)/g, '$1');
  return labels;
}

function numberOf(text: string): number {
  return text === '+Inf' ? Infinity : text === '-Inf' ? -Infinity : Number(text);
}

/** Every sample line of `exposition`; a line that is neither a comment nor a sample throws. */
export function parseSamples(exposition: string): Sample[] {
  return exposition
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const match = SAMPLE.exec(line);
      if (match === null) throw new Error(`not a sample line: ${line}`);
      const sample: Sample = { name: match[1]!, labels: labelsOf(match[2]), value: numberOf(match[3]!) };
      if (match[4] !== undefined) sample.exemplar = { labels: labelsOf(match[4]), value: numberOf(match[5]!) };
      return sample;
    });
}

/** The sum of the samples named `name` whose labels include `labels`. */
export function sumOf(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  return samples
    .filter((sample) => sample.name === name)
    .filter((sample) => Object.entries(labels).every(([key, value]) => sample.labels[key] === value))
    .reduce((sum, sample) => sum + sample.value, 0);
}

/** The `# TYPE` lines of `exposition`, family name to type. */
export function familyTypes(exposition: string): Map<string, string> {
  const types = [...exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)];
  return new Map(types.map((match) => [match[1]!, match[2]!]));
}
