// What the export says about itself: the SDK reports a failed export to its diag logger, which nobody
// has set, so spans were dropped without a word. The exporter is wrapped here to count what fails and
// log it, rate-limited, and to bound the last flush at shutdown.
import { ExportResultCode } from '@opentelemetry/core';
import type { ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { runOutsideRequestContext } from '../request-context.js';
import { RepeatedFailureLines } from '../repeated-failure-lines.js';
import { withoutCredentials } from '../url-credentials.js';

/** Where the export writes its own lines (a pino logger fits). @publicApi */
export interface OtlpExportLogger {
  warn(fields: object, message: string): void;
  info(fields: object, message: string): void;
}

/** The last flush at shutdown waits this long at most (or the exporter's timeout, when shorter). */
export const FINAL_FLUSH_MAX_MS = 3000;

const CONTEXT = 'OtlpExport';

export class ReportingSpanExporter implements SpanExporter {
  /** Failures not yet in a line. */
  private failedExports = 0;
  private failedSpans = 0;
  private lastError = '';
  /** When failures get a line: the first, then at most one a minute, and the recovery. */
  private readonly lines = new RepeatedFailureLines();
  /** Spans handed to the exporter whose export has not ended. */
  private inFlight = 0;
  /** Set while the last flush runs: its failures go in its own line. */
  private final: { lostSpans: number; error: string; connectionError?: string } | undefined;

  /** Where spans go, as the lines show it: without the credentials a URL may hold. */
  private readonly url: string;

  constructor(
    private readonly inner: SpanExporter,
    private readonly logger: () => OtlpExportLogger,
    url: string,
  ) {
    this.url = withoutCredentials(url);
  }

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    this.inFlight += spans.length;
    // Outside the context of the request whose span ended last: the export and its lines are no
    // request's, and carry no request's id or trace.
    runOutsideRequestContext(() =>
      this.inner.export(spans, (result) => {
        this.inFlight -= spans.length;
        this.settled(spans.length, result);
        done(result);
      }),
    );
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }

  /** A connection of the exporter's failed (refused, reset): the SDK retries, and tells the error only at the end. */
  connectionFailed(error: Error): void {
    if (this.final !== undefined) this.final.connectionError = error.message;
  }

  /** From here on, failures are counted for the one line `endFinalFlush` writes. */
  beginFinalFlush(): void {
    this.final = { lostSpans: 0, error: '' };
  }

  /** Writes one line when spans were lost in the last flush: failed, or not sent within `waitedMs`. */
  endFinalFlush(waitedMs: number, failure: unknown): void {
    const final = this.final ?? { lostSpans: 0, error: '' };
    const lostSpans = final.lostSpans + this.inFlight;
    if (lostSpans === 0 && failure === undefined) return;
    const reason = final.error || (this.inFlight > 0 ? unsent(final.connectionError, waitedMs) : failedWith(failure));
    this.write(
      'warn',
      { exportUrl: this.url, lostSpans, error: reason },
      `${lostSpans} spans not exported at shutdown`,
    );
  }

  private settled(spans: number, result: ExportResult): void {
    if (result.code === ExportResultCode.SUCCESS) {
      if (this.lines.succeeded() === undefined) return;
      const fields = { exportUrl: this.url, failedExports: this.failedExports, failedSpans: this.failedSpans };
      this.failedExports = this.failedSpans = 0;
      this.write('info', fields, 'span export recovered');
      return;
    }
    const error = result.error?.message ?? 'export failed';
    if (this.final !== undefined) {
      this.final.lostSpans += spans;
      this.final.error = error;
      return;
    }
    this.failedExports++;
    this.failedSpans += spans;
    this.lastError = error;
    if (this.lines.failed() === undefined) return;
    const fields = {
      exportUrl: this.url,
      failedExports: this.failedExports,
      failedSpans: this.failedSpans,
      error: this.lastError,
    };
    this.failedExports = this.failedSpans = 0;
    this.write('warn', fields, 'span export failed: spans dropped');
  }

  private write(level: 'warn' | 'info', fields: object, message: string): void {
    this.lines.wrote();
    runOutsideRequestContext(() => this.logger()[level]({ context: CONTEXT, ...fields }, message));
  }
}

/** Why spans still in an export were lost: the last connection error its retries met, if any. */
function unsent(connectionError: string | undefined, waitedMs: number): string {
  const late = `not sent within ${waitedMs} ms`;
  return connectionError === undefined ? late : `${connectionError} (retried, ${late})`;
}

function failedWith(failure: unknown): string {
  return failure instanceof Error ? failure.message : 'failed';
}
