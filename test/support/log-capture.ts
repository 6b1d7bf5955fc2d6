import { Writable } from 'node:stream';

/** One JSON log line as pino wrote it. */
export type LogLine = Record<string, unknown> & { msg?: string; requestId?: string; level: number };

/**
 * A pino destination that keeps every line in memory, raw and parsed, so a test can assert on what
 * the service logged (and on what it must never log).
 */
export class LogCapture extends Writable {
  readonly raw: string[] = [];
  private pending = '';
  /** `raw`, parsed so far: each line is parsed once, however often `lines` is read. */
  private readonly parsed: LogLine[] = [];

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.pending += chunk.toString('utf8');
    let newline = this.pending.indexOf('\n');
    while (newline !== -1) {
      this.raw.push(this.pending.slice(0, newline));
      this.pending = this.pending.slice(newline + 1);
      newline = this.pending.indexOf('\n');
    }
    callback();
  }

  /** Every line written so far, parsed; a line that is not JSON (a stray print) reads as level 0, `(not JSON) …`. */
  get lines(): LogLine[] {
    for (let index = this.parsed.length; index < this.raw.length; index++)
      this.parsed.push(parseLine(this.raw[index]!));
    return this.parsed.slice();
  }

  /** The lines that carry `requestId: id`. */
  forRequest(id: string): LogLine[] {
    return this.lines.filter((line) => line.requestId === id);
  }

  /** Whether `text` appears anywhere in any raw line. */
  contains(text: string): boolean {
    return this.raw.some((line) => line.includes(text));
  }

  clear(): void {
    this.raw.length = 0;
    this.parsed.length = 0;
  }
}

function parseLine(raw: string): LogLine {
  try {
    const parsed = JSON.parse(raw) as unknown;
    if (typeof parsed === 'object' && parsed !== null) return parsed as LogLine;
  } catch {
    // Not JSON: kept, marked, below.
  }
  return { level: 0, msg: `(not JSON) ${raw}` };
}

/**
 * Waits until `logs` holds a line matching `predicate` (lines often come a little after the response),
 * or `timeoutMs` passes; returns the matching lines, possibly none.
 */
export async function waitForLines(
  logs: LogCapture,
  predicate: (line: LogLine) => boolean,
  timeoutMs = 2_000,
): Promise<LogLine[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = logs.lines.filter(predicate);
    if (found.length > 0 || Date.now() > deadline) return found;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export interface WaitForLineOptions {
  /** @default 2000 */
  timeoutMs?: number;
  /** What is awaited, for the failure message. */
  what?: string;
  /** Why to stop waiting early (e.g. the process that writes the lines has exited), if there is a reason. */
  giveUp?: () => string | undefined;
}

/** The first line of `logs` matching `predicate`, waiting for it; fails after `timeoutMs` or when `giveUp` names a reason. */
export async function waitForLine(
  logs: LogCapture,
  predicate: (line: LogLine) => boolean,
  options: WaitForLineOptions = {},
): Promise<LogLine> {
  const { timeoutMs = 2_000, what = 'the expected log line', giveUp } = options;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = logs.lines.find(predicate);
    if (found !== undefined) return found;
    const reason = giveUp?.();
    if (reason !== undefined) throw new Error(`${reason} before ${what}:\n${tail(logs.raw.join('\n'))}`);
    if (Date.now() > deadline) throw new Error(`no ${what} within ${timeoutMs} ms:\n${tail(logs.raw.join('\n'))}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** The end of a long text, for failure messages. */
export function tail(text: string, max = 3000): string {
  return text.length > max ? `…${text.slice(-max)}` : text;
}
