import { Inject, Injectable } from '@nestjs/common';
import type { OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { hostname } from 'node:os';
import { ProcessQueries } from '@threadline/runtime';
import { addSpanRecorder } from '@threadline/tracing';
import type { FinishedSpan } from '@threadline/tracing';
import { RequestRing } from './request-ring.js';
import { factsOf, isHttpSpan, mergeFacts } from './timeline-facts.js';
import { isServiceSelfRequest } from '../service-self-requests.js';
import type { RequestFacts } from './timeline-facts.js';

export const TIMELINE_OPTIONS = Symbol('TIMELINE_OPTIONS');

export interface TimelineOptions {
  /** How many recent requests this process keeps the spans of. */
  requests: number;
  /** The components this process runs, to say where its spans come from. */
  components: readonly string[];
}

/** One process's spans of a request, as `timeline.spans` answers. */
export interface ProcessSpans {
  /** `<host>:<pid>` */
  process: string;
  components: string[];
  spans: FinishedSpan[];
}

/** A process's answer to `timeline.facts`: by request id, then by trace id. */
type FactsAnswer = Record<string, Record<string, RequestFacts>>;

const SPANS_TOPIC = 'timeline.spans';
const FACTS_TOPIC = 'timeline.facts';

/**
 * The request timeline of this process: a ring of the spans of its most recent requests, and the
 * answers to the other processes' questions about them (`ProcessQueries`), so the Frontend can show a
 * request across every process.
 */
@Injectable()
export class TimelineService implements OnModuleInit, OnModuleDestroy {
  readonly ring: RequestRing;
  private readonly process = `${hostname()}:${process.pid}`;
  private stops: Array<() => void> = [];

  constructor(
    @Inject(TIMELINE_OPTIONS) private readonly options: TimelineOptions,
    private readonly queries: ProcessQueries,
  ) {
    this.ring = new RequestRing(options.requests);
  }

  onModuleInit(): void {
    this.stops = [
      addSpanRecorder({ onEnd: (span) => this.keep(span) }),
      this.queries.answer<{ id: string }, ProcessSpans>(SPANS_TOPIC, ({ id }) => this.localSpans(id)),
      this.queries.answer<{ ids: string[] }, FactsAnswer>(FACTS_TOPIC, ({ ids }) => this.localFacts(ids)),
    ];
  }

  onModuleDestroy(): void {
    for (const stop of this.stops) stop();
    this.stops = [];
  }

  /** The spans of request `id` from every process that has some. */
  async spansOf(id: string): Promise<ProcessSpans[]> {
    return this.queries.ask<{ id: string }, ProcessSpans>(SPANS_TOPIC, { id });
  }

  /** What every process's spans tell about each of `ids`, by request id and then by trace (one request each). */
  async factsOf(ids: string[]): Promise<Map<string, Map<string, RequestFacts>>> {
    const answers = await this.queries.ask<{ ids: string[] }, FactsAnswer>(FACTS_TOPIC, { ids });
    return new Map(
      ids.map((id) => {
        const byTrace = new Map<string, RequestFacts[]>();
        for (const answer of answers)
          for (const [traceId, facts] of Object.entries(answer[id] ?? {}))
            byTrace.set(traceId, [...(byTrace.get(traceId) ?? []), facts]);
        return [id, new Map([...byTrace].map(([traceId, parts]) => [traceId, mergeFacts(parts)]))];
      }),
    );
  }

  private keep(span: FinishedSpan): void {
    if (isServiceSelfRequest(span) || isPreflight(span)) return;
    this.ring.onEnd(span);
  }

  private localSpans(id: unknown): ProcessSpans | undefined {
    if (typeof id !== 'string') return undefined;
    const spans = this.ring.entriesOf(id).flatMap((entry) => entry.spans);
    if (spans.length === 0) return undefined;
    return { process: this.process, components: [...this.options.components], spans };
  }

  private localFacts(ids: unknown): FactsAnswer | undefined {
    if (!Array.isArray(ids)) return undefined;
    const facts: FactsAnswer = {};
    for (const id of ids) {
      if (typeof id !== 'string') continue;
      for (const entry of this.ring.entriesOf(id)) (facts[id] ??= {})[entry.traceId] = factsOf(entry.spans);
    }
    return facts;
  }
}

/**
 * A CORS preflight (the browser asking before a page's request): kept, they would push the requests
 * themselves out of the ring, one for each kind of request a page sends.
 */
function isPreflight(span: FinishedSpan): boolean {
  return isHttpSpan(span) && span.attributes['http.request.method'] === 'OPTIONS';
}
