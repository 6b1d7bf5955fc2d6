/** The median of `values` (the mean of the middle two for an even count). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** The `p`-th percentile (0-100) of `values`, nearest rank; NaN for none. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export function mean(values: readonly number[]): number {
  return values.reduce((sum, value) => sum + value, 0) / values.length;
}

/**
 * A figure measured once per round: the median of the rounds and the lowest and highest of them. Every
 * table prints the range beside the median ("median [min to max]") and judges its verdicts against it:
 * over the few rounds a benchmark runs, min–max says more than a quartile range would.
 */
export interface Spread {
  median: number;
  min: number;
  max: number;
  /** With one round there is no spread, and so nothing to judge a difference by. */
  rounds: number;
}

export function spread(values: readonly number[]): Spread {
  if (values.length === 0) throw new Error('a spread of no rounds');
  return { median: median(values), min: Math.min(...values), max: Math.max(...values), rounds: values.length };
}

/**
 * `a − b` where no round of `a` belongs with a round of `b` (nothing the rounds share moves both): the
 * medians' difference, between the furthest apart any two rounds are. The range covers 0 exactly when
 * the two sets of rounds overlap. For paired rounds, take `spread` of each round's own difference instead.
 */
export function unpairedDifference(a: readonly number[], b: readonly number[]): Spread {
  const x = spread(a);
  const y = spread(b);
  return { median: x.median - y.median, min: x.min - y.max, max: x.max - y.min, rounds: Math.min(x.rounds, y.rounds) };
}

/** `a ÷ b` of positive figures, unpaired as in `unpairedDifference`: covers 1 exactly when the rounds overlap. */
export function unpairedRatio(a: readonly number[], b: readonly number[]): Spread {
  const x = spread(a);
  const y = spread(b);
  return { median: x.median / y.median, min: x.min / y.max, max: x.max / y.min, rounds: Math.min(x.rounds, y.rounds) };
}

/**
 * Where the rounds lie against `reference` (1 for a ratio, 0 for a difference): all above, all below,
 * or on both sides, which is "within noise"; with one round, unknown.
 */
export function sideOf(figure: Spread, reference: number): 'above' | 'below' | 'within noise' | 'one round' {
  if (figure.rounds < 2) return 'one round';
  if (figure.min > reference) return 'above';
  if (figure.max < reference) return 'below';
  return 'within noise';
}

/** "1.95 [1.90 to 2.01]": the median and the range of the rounds (the value alone for a single round). */
export function formatSpread(figure: Spread, format: (value: number) => string = String): string {
  const median = format(figure.median);
  return figure.rounds < 2 ? median : `${median} [${format(figure.min)} to ${format(figure.max)}]`;
}

/**
 * A table cell comparing with `reference`: the figure with its range, and "within noise" where the
 * rounds fall on both sides of the reference, so that no table states a difference its own rounds do
 * not agree on ("one round" where there is no range to tell).
 */
export function comparison(figure: Spread, reference: number, format: (value: number) => string = String): string {
  return `${formatSpread(figure, format)}${noiseTag(figure, reference)}`;
}

/** What `comparison` adds after the figure: ", within noise", ", one round", or nothing where every round agrees. */
export function noiseTag(figure: Spread, reference: number): string {
  const side = sideOf(figure, reference);
  return side === 'within noise' || side === 'one round' ? `, ${side}` : '';
}

export type Goal = { atMost: number } | { atLeast: number };

/**
 * "≤ 2.00: met", "≤ 2.00: not met", or "≤ 2.00: within noise" where some rounds meet the goal and
 * some do not; a single round's verdict says it is one.
 */
export function goalVerdict(
  figure: Spread,
  goal: Goal,
  format: (value: number) => string = (value) => value.toFixed(2),
): string {
  const atMost = 'atMost' in goal;
  const limit = atMost ? goal.atMost : goal.atLeast;
  const meets = (value: number) => (atMost ? value <= limit : value >= limit);
  const verdict =
    meets(figure.min) && meets(figure.max)
      ? 'met'
      : !meets(figure.min) && !meets(figure.max)
        ? 'not met'
        : 'within noise';
  return `${atMost ? '≤' : '≥'} ${format(limit)}: ${verdict}${figure.rounds < 2 ? ' (one round)' : ''}`;
}

/** A number with its sign ("+734", "-12", "+0.25"); a value that rounds to zero gets "+". */
export function signed(digits = 0): (value: number) => string {
  return (value) => {
    const text = Math.abs(value).toFixed(digits);
    return `${value < 0 && Number(text) !== 0 ? '-' : '+'}${text}`;
  };
}

/** A markdown table. */
export function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}
