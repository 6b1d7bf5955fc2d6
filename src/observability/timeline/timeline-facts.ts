import type { FinishedSpan } from '@threadline/tracing';

/** What the spans of one process tell about a request, merged across processes by `mergeFacts`. */
export interface RequestFacts {
  /** When the first token was generated, ms since the epoch. */
  firstTokenAt?: number;
  promptTokens?: number;
  completionTokens?: number;
  cachedTokens?: number;
  workerId?: string;
  /** The share of the prompt's blocks the chosen worker had cached, as the Router saw it (0 to 1). */
  prefixHitRate?: number;
}

/** The pipeline's components, as the timeline names them. */
export const TIMELINE_COMPONENTS = ['frontend', 'processor', 'router', 'worker', 'prefill'] as const;

/** The HTTP `server` span: the Frontend's span of the request. */
export function isHttpSpan(span: Pick<FinishedSpan, 'kind' | 'attributes'>): boolean {
  return span.kind === 'server' && span.attributes['http.request.method'] !== undefined;
}

/** The facts `spans` (one process's, or all) give: token counts and TTFT from the generation, the choice from the Router. */
export function factsOf(spans: readonly FinishedSpan[]): RequestFacts {
  const facts: RequestFacts = {};
  for (const span of spans) {
    if (span.name === 'gen_ai.generate') {
      const first = span.events.find((event) => event.name === 'gen_ai.first_token');
      if (first !== undefined) facts.firstTokenAt = Math.min(facts.firstTokenAt ?? Infinity, first.time);
      const input = numberAttribute(span, 'gen_ai.usage.input_tokens');
      const output = numberAttribute(span, 'gen_ai.usage.output_tokens');
      const cached = numberAttribute(span, 'gen_ai.usage.cache_read_input_tokens');
      // Each choice has a generation of its own, all of one prompt: the prompt counts once.
      if (input !== undefined) facts.promptTokens = Math.max(facts.promptTokens ?? 0, input);
      if (output !== undefined) facts.completionTokens = (facts.completionTokens ?? 0) + output;
      if (cached !== undefined) facts.cachedTokens = Math.max(facts.cachedTokens ?? 0, cached);
      const worker = span.attributes['threadline.worker_id'];
      if (typeof worker === 'string') facts.workerId ??= worker;
    } else if (span.name === 'router.route' && span.kind === 'server') {
      const worker = span.attributes['threadline.router.worker_id'];
      if (typeof worker === 'string') facts.workerId = worker;
      const rate = numberAttribute(span, 'threadline.router.prefix_hit_rate');
      if (rate !== undefined) facts.prefixHitRate = rate;
    }
  }
  return facts;
}

/** One request's facts from several processes' answers. */
export function mergeFacts(parts: readonly RequestFacts[]): RequestFacts {
  const merged: RequestFacts = {};
  for (const part of parts) {
    if (part.firstTokenAt !== undefined)
      merged.firstTokenAt = Math.min(merged.firstTokenAt ?? Infinity, part.firstTokenAt);
    if (part.promptTokens !== undefined) merged.promptTokens = Math.max(merged.promptTokens ?? 0, part.promptTokens);
    if (part.completionTokens !== undefined)
      merged.completionTokens = (merged.completionTokens ?? 0) + part.completionTokens;
    if (part.cachedTokens !== undefined) merged.cachedTokens = Math.max(merged.cachedTokens ?? 0, part.cachedTokens);
    // The Router's choice wins over a worker's own name for itself; they agree unless a retry moved it.
    if (part.workerId !== undefined && (merged.workerId === undefined || part.prefixHitRate !== undefined))
      merged.workerId = part.workerId;
    if (part.prefixHitRate !== undefined) merged.prefixHitRate = part.prefixHitRate;
  }
  return merged;
}

/**
 * The component a span speaks for: the callee's for a call's `server` span, the Worker's for the
 * generation, the Frontend's for the HTTP span, and otherwise its parent's (a `client` span belongs to
 * whoever made the call).
 */
export function componentOf(span: FinishedSpan, byId: ReadonlyMap<string, FinishedSpan>, depth = 0): string {
  if (isHttpSpan(span)) return 'frontend';
  if (span.name.startsWith('gen_ai.')) return 'worker';
  const service = span.attributes['rpc.service'];
  if (span.kind === 'server' && typeof service === 'string') return service;
  const parent = span.parentSpanId === undefined ? undefined : byId.get(span.parentSpanId);
  if (parent !== undefined && depth < 32) return componentOf(parent, byId, depth + 1);
  return span.kind === 'client' ? 'frontend' : 'unknown';
}

function numberAttribute(span: FinishedSpan, key: string): number | undefined {
  const value = span.attributes[key];
  return typeof value === 'number' ? value : undefined;
}
