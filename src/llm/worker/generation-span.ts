import { endSpanWithIterator, isRecordingSpans, spanClock, startSpan } from '@threadline/tracing/internal';
import type { SpanItemObserver } from '@threadline/tracing/internal';
import type { GenerateRequest, WorkerOutput } from '../protocol/pipeline.types.js';

/**
 * The Worker's generation as an `internal` span `gen_ai.generate`, a child of the worker's call, ended
 * with the engine's stream: token counts, the cached prompt tokens, and an event at the first token.
 * Counts only: no prompt or completion text goes into a span. Without a span recorder, `tokens` as it is.
 */
export function traceGeneration(
  tokens: AsyncIterable<WorkerOutput>,
  request: GenerateRequest,
  model: string,
  workerId: string,
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
  // A migrated generation: its prompt carries the tokens another worker produced before it was lost.
  if (request.continuation !== undefined)
    span.setAttribute('threadline.migration.tokens_carried', request.continuation.generatedTokens);
  return endSpanWithIterator(tokens[Symbol.asyncIterator](), span, tokenCounter());
}

/**
 * Counts the tokens of each output on the span as it passes. The count is kept here and each output's
 * is written to the span's attributes by a fixed name: `setAttribute`, which takes any name, would make
 * every output pay for a store by a name it cannot predict.
 */
function tokenCounter(): SpanItemObserver<WorkerOutput> {
  let produced = 0;
  return (output, span) => {
    if (!('tokenIds' in output) || output.tokenIds.length === 0 || span.isEnded) return;
    if (produced === 0) span.addEvent('gen_ai.first_token', undefined, spanClock());
    produced += output.tokenIds.length;
    const attributes = span.attributes;
    attributes['gen_ai.usage.output_tokens'] = produced;
    if (output.cachedTokens !== undefined) attributes['gen_ai.usage.cache_read_input_tokens'] = output.cachedTokens;
  };
}
