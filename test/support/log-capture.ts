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

  /** Every line written so far, parsed. */
  get lines(): LogLine[] {
    return this.raw.map((line) => JSON.parse(line) as LogLine);
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
  }
}
