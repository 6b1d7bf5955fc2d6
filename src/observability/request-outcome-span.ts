import { getCurrentSpan } from '@threadline/tracing/internal';
import type { Span } from '@threadline/tracing/internal';
import { isHttpSpan } from './timeline/timeline-facts.js';

/**
 * What the Frontend knows of a request once it is over, and no worker's span can tell once the request
 * moved between workers: the status it ended with (a stream's error event's, not its `200` head's), the
 * usage the client got, and its time to first token as the metrics measure it.
 */
export interface RequestOutcome {
  status: number;
  ttftMs?: number;
  usage?: { promptTokens: number; completionTokens: number; cachedTokens: number };
}

/** The attributes of the request's HTTP span that hold its outcome; the timeline reads them. */
export const OUTCOME = {
  status: 'threadline.status',
  ttftMs: 'threadline.ttft_ms',
  promptTokens: 'threadline.usage.prompt_tokens',
  completionTokens: 'threadline.usage.completion_tokens',
  cachedTokens: 'threadline.usage.cached_tokens',
} as const;

/** The current request's HTTP `server` span, when spans are recorded and one is current. */
export function currentHttpSpan(): Span | undefined {
  const span = getCurrentSpan();
  return span !== undefined && isHttpSpan(span) ? span : undefined;
}

/** Writes `outcome` on the request's HTTP span (a span that ended already, its client gone, takes nothing). */
export function recordOutcome(span: Span, outcome: RequestOutcome): void {
  span.setAttribute(OUTCOME.status, outcome.status);
  // A stream that failed after its 200 head failed all the same.
  if (outcome.status >= 500) span.setStatus('error');
  if (outcome.ttftMs !== undefined) span.setAttribute(OUTCOME.ttftMs, Math.round(outcome.ttftMs * 10) / 10);
  if (outcome.usage !== undefined) {
    span.setAttributes({
      [OUTCOME.promptTokens]: outcome.usage.promptTokens,
      [OUTCOME.completionTokens]: outcome.usage.completionTokens,
      [OUTCOME.cachedTokens]: outcome.usage.cachedTokens,
    });
  }
}
