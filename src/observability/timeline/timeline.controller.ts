import { BadRequestException, Controller, Get, NotFoundException, Param, Query, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import type { FinishedSpan } from '@threadline/tracing';
import { isHttpSpan } from './timeline-facts.js';
import { TimelineService } from './timeline.service.js';
import { renderNotFoundPage, renderTimelinePage, summarize, timelineOf } from './timeline-view.js';
import type { RequestSummary, RequestTimeline } from './timeline-view.js';

const DEFAULT_LIMIT = 50;

/**
 * The request timeline on the Frontend's HTTP server: the recent requests, one request's spans from
 * every process, and its waterfall as a page. Served only when `THREADLINE_DEBUG_ROUTES` is on.
 */
@Controller('debug/requests')
export class TimelineController {
  constructor(private readonly timeline: TimelineService) {}

  /** The requests this Frontend served most recently, newest first, with the facts the other processes' spans add. */
  @Get()
  async list(@Query('limit') limit: string | undefined): Promise<{ object: 'list'; data: RequestSummary[] }> {
    const wanted = parseLimit(limit, this.timeline.ring.capacity);
    const recent: Array<[string, FinishedSpan]> = [];
    for (const [id, spans] of this.timeline.ring.newestFirst()) {
      const span = spans.find(isHttpSpan);
      if (span === undefined) continue;
      recent.push([id, span]);
      if (recent.length === wanted) break;
    }
    const facts = await this.timeline.factsOf(recent.map(([id]) => id));
    return { object: 'list', data: recent.map(([id, span]) => summarize(id, span, facts.get(id) ?? {})) };
  }

  @Get(':id')
  async spans(@Param('id') id: string): Promise<RequestTimeline> {
    const timeline = await this.find(id);
    if (timeline === undefined) throw notFound(id);
    return timeline;
  }

  @Get(':id/view')
  async view(@Param('id') id: string, @Res() reply: FastifyReply): Promise<void> {
    const timeline = await this.find(id);
    void reply
      .status(timeline === undefined ? 404 : 200)
      .header('content-type', 'text/html; charset=utf-8')
      // The page is self-contained: it loads nothing and runs no script.
      .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'")
      .send(timeline === undefined ? renderNotFoundPage(id) : renderTimelinePage(timeline));
  }

  private async find(id: string): Promise<RequestTimeline | undefined> {
    const answers = await this.timeline.spansOf(id);
    return answers.length === 0 ? undefined : timelineOf(id, answers);
  }
}

function parseLimit(raw: string | undefined, capacity: number): number {
  if (raw === undefined) return Math.min(DEFAULT_LIMIT, capacity);
  const limit = Number(raw);
  if (!/^\d+$/.test(raw) || limit < 1)
    throw new BadRequestException(`limit must be a whole number of requests from 1, got ${JSON.stringify(raw)}.`);
  return Math.min(limit, capacity);
}

function notFound(id: string): NotFoundException {
  return new NotFoundException(
    `No process of the service has spans of request ${JSON.stringify(id)}: it is unknown, or older than the requests kept.`,
  );
}
