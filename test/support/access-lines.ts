import { waitForLines } from './log-capture.js';
import type { LogCapture, LogLine } from './log-capture.js';

/** Whether `line` is the access line that ends a request: "request completed", whatever its status, on both platforms. */
export function isCompletionLine(line: LogLine): boolean {
  return line.msg === 'request completed';
}

/** Waits for the access line that ends request `id` (it comes after the response); returns it, or none. */
export function waitForCompletion(logs: LogCapture, id: unknown, timeoutMs?: number): Promise<LogLine[]> {
  return waitForLines(logs, (line) => isCompletionLine(line) && line.requestId === id, timeoutMs);
}
