import type { LogCapture, LogLine } from './log-capture.js';

/** Whether `line` is the access line that ends a request: "request completed", whatever its status, on both platforms. */
export function isCompletionLine(line: LogLine): boolean {
  return line.msg === 'request completed';
}

/**
 * Waits until a line matching `predicate` has been written (the completion line comes after the
 * response), or `timeoutMs` passes; returns the matching lines, possibly none.
 */
export async function waitForLine(logs: LogCapture, predicate: (line: LogLine) => boolean, timeoutMs = 2_000): Promise<LogLine[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = logs.lines.filter(predicate);
    if (found.length > 0 || Date.now() > deadline) return found;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Waits for the access line that ends request `id` (see `waitForLine`). */
export function waitForCompletion(logs: LogCapture, id: unknown, timeoutMs?: number): Promise<LogLine[]> {
  return waitForLine(logs, (line) => isCompletionLine(line) && line.requestId === id, timeoutMs);
}
