import { accessSync, constants } from 'node:fs';
import { describe, it } from 'vitest';
import puppeteer from 'puppeteer-core';
import type { Browser } from 'puppeteer-core';

/** Debian's Chromium, or the browser `CHROMIUM_BIN` names. */
export function chromiumBinary(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const binary = env.CHROMIUM_BIN ?? '/usr/bin/chromium';
  try {
    accessSync(binary, constants.X_OK);
    return binary;
  } catch {
    return undefined;
  }
}

/** Headless Chromium, with `extraArgs` on its command line; as root it runs only without its sandbox. */
export function launchChromium(extraArgs: string[] = []): Promise<Browser> {
  const binary = chromiumBinary();
  if (binary === undefined) throw new Error('Chromium is not installed');
  const args = process.getuid?.() === 0 ? ['--no-sandbox'] : [];
  return puppeteer.launch({ executablePath: binary, headless: true, args: [...args, '--disable-gpu', ...extraArgs] });
}

let warned = false;

/**
 * `describe(name, fn)` when Chromium is installed. Otherwise the suite is skipped with one warning,
 * unless THREADLINE_REQUIRE_TOOLS=1 (as in CI): then it is one failing test saying Chromium is missing.
 */
export function describeWithBrowser(name: string, fn: () => void): void {
  if (chromiumBinary() !== undefined) {
    describe(name, fn);
    return;
  }
  const reason = `${process.env.CHROMIUM_BIN ?? '/usr/bin/chromium'} is not an executable (apt-get install chromium, or set CHROMIUM_BIN)`;
  if (process.env.THREADLINE_REQUIRE_TOOLS === '1') {
    describe(name, () => {
      it('needs Chromium', () => {
        throw new Error(`Chromium is missing and THREADLINE_REQUIRE_TOOLS=1: ${reason}`);
      });
    });
    return;
  }
  if (!warned) {
    warned = true;
    console.warn(
      `[threadline] skipping the browser tests: ${reason}. Set THREADLINE_REQUIRE_TOOLS=1 to make this a failure.`,
    );
  }
  describe.skip(`${name} (skipped: ${reason})`, fn);
}
