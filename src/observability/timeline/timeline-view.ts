import type { FinishedSpan } from '@threadline/tracing';
import { componentOf, factsOf, isHttpSpan, mergeFacts } from './timeline-facts.js';
import type { RequestFacts } from './timeline-facts.js';
import type { ProcessSpans } from './timeline.service.js';
import { CLIENT_CLOSED_REQUEST } from '../metrics/frontend.metrics.js';
import { OUTCOME } from '../request-outcome-span.js';

/** A line of `GET /debug/requests`: counts and times only, never the text of a prompt or a completion. */
export interface RequestSummary {
  id: string;
  /** The request's trace: two requests of one id (a client reusing it) are two lines, told apart by it. */
  trace_id: string;
  route: string;
  status: number | null;
  started_at: string;
  duration_ms: number;
  ttft_ms: number | null;
  prompt_tokens: number | null;
  completion_tokens: number | null;
  worker_id: string | null;
}

/** A span as `GET /debug/requests/:id` shows it: where it ran, and its duration. */
export type TimelineSpan = FinishedSpan & { component: string; process: string; duration_ms: number };

/** `GET /debug/requests/:id`: the request's spans from every process, earliest first. */
export interface RequestTimeline {
  id: string;
  /** As in the list: the status the client got, 499 for a client that left (null without the Frontend's span). */
  status: number | null;
  /** The request's trace. */
  trace_id: string;
  /** Other requests of the same id that the processes still hold, newest first (`?trace=` shows one). */
  other_requests: Array<{ trace_id: string; started_at: string }>;
  worker_id: string | null;
  prefix_hit_rate: number | null;
  cached_tokens: number | null;
  ttft_ms: number | null;
  prompt_tokens: number | null;
  completion_tokens: number | null;
  spans: TimelineSpan[];
}

export function summarize(id: string, http: FinishedSpan, facts: RequestFacts): RequestSummary {
  const route = http.attributes['http.route'] ?? http.attributes['url.path'];
  const outcome = outcomeOf(http);
  return {
    id,
    trace_id: http.traceId,
    route: `${String(http.attributes['http.request.method'])} ${String(route)}`,
    status: statusOf(http, outcome),
    started_at: new Date(http.startTime).toISOString(),
    duration_ms: round(http.endTime - http.startTime),
    ...counts(outcome, facts, http.startTime),
    worker_id: facts.workerId ?? null,
  };
}

/**
 * The request's status as the metrics count it: 499 (nginx's) for a request its client left, whatever was
 * sent, and a stream's error event's status, not its head's.
 */
function statusOf(http: FinishedSpan, outcome: Outcome): number | null {
  if (http.attributes['threadline.cancelled'] === true) return CLIENT_CLOSED_REQUEST;
  const sent = http.attributes['http.response.status_code'];
  return outcome.status ?? (typeof sent === 'number' ? sent : null);
}

/**
 * TTFT and token counts: the Frontend's own, from its HTTP span, when it has them (what the client got,
 * right across a move between workers, whose first worker's spans may be gone); else the workers'.
 */
function counts(
  outcome: Outcome,
  facts: RequestFacts,
  start: number,
): Pick<RequestSummary, 'ttft_ms' | 'prompt_tokens' | 'completion_tokens'> {
  return {
    ttft_ms: outcome.ttftMs ?? (facts.firstTokenAt === undefined ? null : round(facts.firstTokenAt - start)),
    prompt_tokens: outcome.promptTokens ?? facts.promptTokens ?? null,
    completion_tokens: outcome.completionTokens ?? facts.completionTokens ?? null,
  };
}

/** The request's outcome as its HTTP span holds it (`request-outcome-span.ts`). */
type Outcome = Partial<Record<keyof typeof OUTCOME, number>>;

function outcomeOf(http: FinishedSpan): Outcome {
  const outcome: Outcome = {};
  for (const [key, attribute] of Object.entries(OUTCOME) as Array<[keyof typeof OUTCOME, string]>) {
    const value = http.attributes[attribute];
    if (typeof value === 'number') outcome[key] = value;
  }
  return outcome;
}

/** The requests of one id that the answers hold, by trace: when each started, newest first. */
export function requestsIn(answers: readonly ProcessSpans[]): Array<{ traceId: string; startTime: number }> {
  const starts = new Map<string, number>();
  for (const { spans } of answers)
    for (const span of spans) starts.set(span.traceId, Math.min(starts.get(span.traceId) ?? Infinity, span.startTime));
  return [...starts].map(([traceId, startTime]) => ({ traceId, startTime })).sort((a, b) => b.startTime - a.startTime);
}

/**
 * The answers of every process, as the timeline of one request: the one of trace `traceId`, or when none
 * is named, the newest of the id (undefined when the answers hold no such request).
 */
export function timelineOf(
  id: string,
  answers: readonly ProcessSpans[],
  traceId?: string,
): RequestTimeline | undefined {
  const requests = requestsIn(answers);
  const shown = traceId ?? requests[0]?.traceId;
  if (shown === undefined || !requests.some((request) => request.traceId === shown)) return undefined;
  const own = answers.map((answer) => ({ ...answer, spans: answer.spans.filter((span) => span.traceId === shown) }));
  const all = own.flatMap((answer) => answer.spans.map((span) => ({ span, process: answer.process })));
  const byId = new Map(all.map(({ span }) => [span.spanId, span]));
  const spans = all
    .map(({ span, process }) => ({
      ...span,
      component: componentOf(span, byId),
      process,
      duration_ms: round(span.endTime - span.startTime),
    }))
    .sort((a, b) => a.startTime - b.startTime);
  const facts = mergeFacts(own.filter((answer) => answer.spans.length > 0).map((answer) => factsOf(answer.spans)));
  const http = spans.find((span) => isHttpSpan(span));
  const start = http?.startTime ?? spans[0]?.startTime ?? 0;
  const outcome = http === undefined ? {} : outcomeOf(http);
  return {
    id,
    status: http === undefined ? null : statusOf(http, outcome),
    trace_id: shown,
    other_requests: requests
      .filter((request) => request.traceId !== shown)
      .map((request) => ({ trace_id: request.traceId, started_at: new Date(request.startTime).toISOString() })),
    worker_id: facts.workerId ?? null,
    prefix_hit_rate: facts.prefixHitRate ?? null,
    cached_tokens: outcome.cachedTokens ?? facts.cachedTokens ?? null,
    ...counts(outcome, facts, start),
    spans,
  };
}

const COMPONENT_COLOURS: Record<string, string> = {
  frontend: '#4c78a8',
  processor: '#f58518',
  router: '#54a24b',
  worker: '#e45756',
  prefill: '#b279a2',
};

/**
 * The request's waterfall as one self-contained HTML page (inline CSS, no script, nothing fetched):
 * a bar per span on one time axis, labelled with its component and duration, under a header with the
 * worker chosen, the cache hit rate, TTFT and the token counts. Every value from a span is escaped.
 */
export function renderTimelinePage(timeline: RequestTimeline): string {
  const start = Math.min(...timeline.spans.map((span) => span.startTime));
  const end = Math.max(...timeline.spans.map((span) => span.endTime));
  const total = Math.max(end - start, 0.001);
  const rows = timeline.spans.map((span) => {
    const left = ((span.startTime - start) / total) * 100;
    const width = Math.max(((span.endTime - span.startTime) / total) * 100, 0.3);
    const name = titleCase(span.component);
    const colour = COMPONENT_COLOURS[span.component] ?? '#79706e';
    const marks = span.events
      .map((event) => {
        const at = ((event.time - start) / total) * 100;
        return `<span class="mark" style="left:${pct(at)}" title="${esc(event.name)}"></span>`;
      })
      .join('');
    // A bar in the right half has its label end where it ends: a label longer than the bar then runs
    // left, inside the waterfall, not over the next column.
    const classes = `${span.status === 'error' ? ' failed' : ''}${left > 50 ? ' late' : ''}`;
    return `<tr>
<td class="what"><b>${esc(name)}</b> ${esc(span.name)} <small>${esc(span.kind)}</small></td>
<td class="lane">${marks}<div class="bar${classes}" data-component="${esc(span.component)}" style="left:${pct(left)};width:${pct(width)};background:${colour}" title="${esc(`${span.name}: ${fmt(span.duration_ms)} ms`)}">${esc(name)} ${esc(fmt(span.duration_ms))} ms</div></td>
<td class="rid"><code>${esc(span.requestId)}</code></td>
<td class="where">${esc(span.process)}</td>
</tr>`;
  });
  const facts: Array<[string, string]> = [
    ['Status', timeline.status === null ? '—' : String(timeline.status)],
    ['Worker', timeline.worker_id ?? '—'],
    ['Cache hit rate', timeline.prefix_hit_rate === null ? '—' : `${fmt(timeline.prefix_hit_rate * 100)} %`],
    ['Cached prompt tokens', timeline.cached_tokens === null ? '—' : String(timeline.cached_tokens)],
    ['TTFT', timeline.ttft_ms === null ? '—' : `${fmt(timeline.ttft_ms)} ms`],
    ['Prompt tokens', timeline.prompt_tokens === null ? '—' : String(timeline.prompt_tokens)],
    ['Completion tokens', timeline.completion_tokens === null ? '—' : String(timeline.completion_tokens)],
    ['Duration', `${fmt(end - start)} ms`],
    ['Trace', timeline.trace_id],
  ];
  // Relative links: the page is `<id>/view`, the others `<id>/view?trace=…`.
  const others = timeline.other_requests.map(
    (other) =>
      `<li><a href="view?trace=${esc(other.trace_id)}">${esc(other.started_at)}</a> <small>trace ${esc(other.trace_id)}</small></li>`,
  );
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Request ${esc(timeline.id)}</title>
<style>
body{font:14px system-ui,sans-serif;margin:1.5rem;color:#222}
h1{font-size:1.2rem} code{font-size:12px}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}
dl.facts dt{font-weight:600} dl.facts dd{margin:0}
table{border-collapse:collapse;width:100%;margin-top:1rem}
td{padding:.25rem .4rem;border-bottom:1px solid #eee;vertical-align:middle;white-space:nowrap}
td.lane{position:relative;width:60%;min-width:300px;height:1.6rem;overflow:hidden}
.bar{position:absolute;top:.2rem;height:1.2rem;line-height:1.2rem;color:#fff;font-size:11px;padding:0 .25rem;border-radius:2px;overflow:visible;white-space:nowrap;box-sizing:border-box}
.bar.late{display:flex;justify-content:flex-end}
.bar.failed{outline:2px solid #c00}
.mark{position:absolute;top:0;bottom:0;border-left:2px dashed #333}
</style></head><body>
<h1>Request <code id="request-id">${esc(timeline.id)}</code></h1>
<p>Grep the logs of every process for this request id.</p>
<dl class="facts">${facts.map(([term, value]) => `<dt>${esc(term)}</dt><dd data-fact="${esc(term)}">${esc(value)}</dd>`).join('')}</dl>
${others.length === 0 ? '' : `<p>Other requests sent with this id:</p><ul id="other-requests">${others.join('')}</ul>`}
<table><thead><tr><th>Span</th><th>Waterfall (${esc(fmt(end - start))} ms)</th><th>Request id</th><th>Process</th></tr></thead>
<tbody>
${rows.join('\n')}
</tbody></table>
</body></html>
`;
}

/** A page saying no process knows the request. */
export function renderNotFoundPage(id: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Request not found</title></head>
<body><p>No process of the service has spans of request <code>${esc(id)}</code>: it is unknown, or older than the requests kept.</p></body></html>
`;
}

/** Text for HTML, in element content and in quoted attributes alike. */
export function esc(value: string): string {
  return value.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

function titleCase(component: string): string {
  return component.charAt(0).toUpperCase() + component.slice(1);
}

function pct(value: number): string {
  return `${Math.min(Math.max(value, 0), 100).toFixed(3)}%`;
}

function fmt(value: number): string {
  return value.toFixed(value < 10 ? 2 : 1);
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
