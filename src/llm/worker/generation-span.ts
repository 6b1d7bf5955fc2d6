import { endSpanWithIterator, isRecordingSpans, spanClock, startSpan } from '@threadline/tracing/internal';
import type { Span, SpanItemObserver } from '@threadline/tracing/internal';
import type { GenerateRequest, WorkerOutput } from '../protocol/pipeline.types.js';

/**
 * What happened to a generation on its way that its span should tell (a remote prefill given up): kept
 * until the span exists, then written to it. Without a span recorder, it records nothing.
 */
export class GenerationNotes {
  private span: Span | undefined;

  /** Called by `traceGeneration` with the generation's span. */
  attach(span: Span): void {
    this.span = span;
  }

  /** An event on the generation's span, with attributes set on the span itself too. */
  event(name: string, attributes: Record<string, string | number | boolean>): void {
    if (this.span === undefined) return;
    this.span.addEvent(name, attributes, spanClock());
    for (const [key, value] of Object.entries(attributes)) this.span.setAttribute(key, value);
  }
}

/**
 * The Worker's generation as an `internal` span `gen_ai.generate`, a child of the worker's call, ended
 * with the engine's stream: token counts, the cached prompt tokens, and an event at the first token.
 * Counts only: no prompt or completion text goes into a span. Without a span recorder, `tokens` as it is.
 * `notes` writes to the span what happens to the generation meanwhile.
 */
export function traceGeneration(
  tokens: AsyncIterable<WorkerOutput>,
  request: GenerateRequest,
  model: string,
  workerId: string,
  notes?: GenerationNotes,
): AsyncIterable<WorkerOutput> {
  if (!isRecordingSpans()) return tokens;
  const span = startSpan('gen_ai.generate', 'internal', {
    'gen_ai.operation.name': request.original.messages === undefined ? 'text_completion' : 'chat',
    'gen_ai.request.model': model,
    'gen_ai.usage.input_tokens': request.tokenIds.length,
    'gen_ai.usage.output_tokens': 0,
    'threadline.worker_id': workerId,
  });
  if (span === undefined) return tokens;
  notes?.attach(span);
  // A migrated generation: its prompt carries the tokens another worker produced before it was lost.
  if (request.continuation !== undefined)
    span.setAttribute('threadline.migration.tokens_carried', request.continuation.generatedTokens);
  return endSpanWithIterator(tokens[Symbol.asyncIterator](), span, new TokenCounter());
}

/**
 * Counts the tokens of the outputs as they pass and writes the count to the span once, when the stream
 * is over; marks the first token with an event and records the cached prompt tokens when they come.
 */
class TokenCounter implements SpanItemObserver<WorkerOutput> {
  private produced = 0;

  onItem(output: WorkerOutput, span: Span): void {
    if (!('tokenIds' in output)) return;
    const count = output.tokenIds.length;
    if (count === 0) return;
    if (this.produced === 0) span.addEvent('gen_ai.first_token', undefined, spanClock());
    this.produced += count;
    if (output.cachedTokens !== undefined)
      span.setAttribute('gen_ai.usage.cache_read_input_tokens', output.cachedTokens);
  }

  onIterationEnd(span: Span): void {
    span.setAttribute('gen_ai.usage.output_tokens', this.produced);
  }
}
