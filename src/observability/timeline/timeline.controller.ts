import { BadRequestException, Controller, Get, NotFoundException, Param, Query, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import type { FinishedSpan } from '@threadline/tracing';
import { isHttpSpan } from './timeline-facts.js';
import { TimelineService } from './timeline.service.js';
import { renderNotFoundPage, renderTimelinePage, summarize, timelineOf } from './timeline-view.js';
import type { RequestSummary, RequestTimeline } from './timeline-view.js';

const DEFAULT_LIMIT = 50;
const TRACE_ID = /^[0-9a-f]{32}$/;

/**
 * The request timeline on the Frontend's HTTP server: the recent requests, one request's spans from
 * every process, and its waterfall as a page. Served only when `THREADLINE_DEBUG_ROUTES` is on.
 */
@Controller('debug/requests')
export class TimelineController {
  constructor(private readonly timeline: TimelineService) {}

  /**
   * The requests this Frontend served most recently, newest first, with the facts the other processes'
   * spans add; two requests of one id are two lines.
   */
  @Get()
  async list(@Query('limit') limit: string | undefined): Promise<{ object: 'list'; data: RequestSummary[] }> {
    const wanted = parseLimit(limit, this.timeline.ring.capacity);
    const recent: Array<{ id: string; http: FinishedSpan }> = [];
    for (const { id, spans } of this.timeline.ring.newestFirst()) {
      const http = spans.find(isHttpSpan);
      if (http === undefined) continue;
      recent.push({ id, http });
      if (recent.length === wanted) break;
    }
    const facts = await this.timeline.factsOf([...new Set(recent.map(({ id }) => id))]);
    return {
      object: 'list',
      data: recent.map(({ id, http }) => summarize(id, http, facts.get(id)?.get(http.traceId) ?? {})),
    };
  }

  @Get(':id')
  async spans(@Param('id') id: string, @Query('trace') trace: string | undefined): Promise<RequestTimeline> {
    const timeline = await this.find(id, trace);
    if (timeline === undefined) throw notFound(id, trace);
    return timeline;
  }

  @Get(':id/view')
  async view(
    @Param('id') id: string,
    @Query('trace') trace: string | undefined,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const timeline = await this.find(id, trace);
    void reply
      .status(timeline === undefined ? 404 : 200)
      .header('content-type', 'text/html; charset=utf-8')
      // The page is self-contained: it loads nothing and runs no script.
      .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'")
      .send(timeline === undefined ? renderNotFoundPage(id) : renderTimelinePage(timeline));
  }

  /** Request `id`'s timeline: the one of trace `trace`, else the newest request of that id. */
  private async find(id: string, trace: string | undefined): Promise<RequestTimeline | undefined> {
    if (trace !== undefined && !TRACE_ID.test(trace))
      throw new BadRequestException(
        `trace must be a trace id, 32 lowercase hexadecimal digits, got ${JSON.stringify(trace)}.`,
      );
    const answers = await this.timeline.spansOf(id);
    return timelineOf(id, answers, trace);
  }
}

function parseLimit(raw: string | undefined, capacity: number): number {
  if (raw === undefined) return Math.min(DEFAULT_LIMIT, capacity);
  const limit = Number(raw);
  if (!/^\d+$/.test(raw) || limit < 1)
    throw new BadRequestException(`limit must be a whole number of requests from 1, got ${JSON.stringify(raw)}.`);
  return Math.min(limit, capacity);
}

function notFound(id: string, trace: string | undefined): NotFoundException {
  const which = trace === undefined ? '' : ` in trace ${trace}`;
  return new NotFoundException(
    `No process of the service has spans of request ${JSON.stringify(id)}${which}: it is unknown, or older than the requests kept.`,
  );
}
