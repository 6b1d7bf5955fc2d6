import { spawnSync } from 'node:child_process';
import { it } from 'vitest';

/**
 * Prometheus's `promtool check metrics`, which parses an exposition and lints it (names, units, help
 * texts, counter suffixes). Debian's `prometheus` package installs it (`apt-get install prometheus`);
 * `PROMTOOL_BIN` names another one. It reads the Prometheus text format, not OpenMetrics.
 */

export interface PromtoolAvailability {
  available: boolean;
  /** Why not, when it is not. */
  reason?: string;
}

let availability: PromtoolAvailability | undefined;

function binary(): string {
  return process.env.PROMTOOL_BIN ?? 'promtool';
}

/** Whether promtool runs here, and if not, why. Checked once per process. */
export function promtoolAvailability(): PromtoolAvailability {
  if (availability !== undefined) return availability;
  const probe = spawnSync(binary(), ['--version'], { encoding: 'utf8', timeout: 10_000 });
  availability =
    probe.error === undefined && probe.status === 0
      ? { available: true }
      : {
          available: false,
          reason: `${binary()} --version failed (${probe.error?.message ?? `exit code ${probe.status}`}); install it with \`apt-get install prometheus\` or set PROMTOOL_BIN`,
        };
  return availability;
}

/** What `promtool check metrics` said of `exposition`: `ok` when it exited 0, and everything it printed. */
export function checkMetrics(exposition: string): { ok: boolean; output: string } {
  const run = spawnSync(binary(), ['check', 'metrics'], { input: exposition, encoding: 'utf8', timeout: 30_000 });
  return { ok: run.error === undefined && run.status === 0, output: `${run.stdout}${run.stderr}`.trim() };
}

/**
 * `it(name, fn)` when promtool is available. Otherwise the test is skipped with the reason in its name,
 * unless THREADLINE_REQUIRE_TOOLS=1 (as in CI): then it fails, saying promtool is missing.
 */
export function itWithPromtool(name: string, fn: () => void | Promise<void>, timeoutMs?: number): void {
  const { available, reason } = promtoolAvailability();
  if (available) it(name, fn, timeoutMs);
  else if (process.env.THREADLINE_REQUIRE_TOOLS === '1')
    it(name, () => {
      throw new Error(`promtool is missing and THREADLINE_REQUIRE_TOOLS=1: ${reason}`);
    });
  else it.skip(`${name} (skipped: ${reason})`, fn);
}
